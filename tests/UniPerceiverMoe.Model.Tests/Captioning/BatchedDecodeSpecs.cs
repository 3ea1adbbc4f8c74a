using UniPerceiverMoe.Model.Decoding;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Demo.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Captioning;

/// <summary>
/// Windows decoded together as one [B·beam]-row search get the ids each gets alone, and a search whose beams have all
/// ended gives what the full search gives. A small bank that holds EOS makes captions end early and at different steps;
/// each spec checks that premise, so a change of seed or model cannot silently turn it into a test of nothing.
/// </summary>
public sealed class BatchedDecodeSpecs(ITestOutputHelper output)
{
    private static readonly UniPerceiverConfig Small = UniPerceiverConfig.Tiny with { Patch = 32, Layers = 2, MoeLayerIndices = [0] };

    /// <summary>A random model (its own generator: tests run in parallel) whose LayerScales start at 1 instead of 1e-3,
    /// so the caption depends on the picture and different windows get different captions.</summary>
    private static UniPerceiverMoeModel PictureSensitiveModel(int seed)
    {
        var model = DemoModelInit.Create(Small, seed, gammaInit: 1f);
        model.eval();
        return model;
    }

    [Fact]
    public void Batched_decode_should_give_each_window_the_ids_it_gets_alone_when_windows_end_at_different_steps()
    {
        const int beam = 2;
        using var model = PictureSensitiveModel(21);
        using var executor = new LocalMoeExecutor(model, new RouteTable(model));
        var runner = new UniPerceiverRunner(model, executor);
        using var bank = VocabularyBank.Build(runner, [320, 1746, 2866, 539, 4160, VocabularyBank.EndOfText]);
        // Plain pictures of 8 brightnesses: each window's patches are alike, so its caption follows its brightness.
        using var levels = tensor(new[] { -2f, -1.4f, -0.8f, -0.3f, 0.3f, 0.8f, 1.4f, 2f });
        using var windows = levels.view(8, 1, 1, 1, 1).expand(8, 1, 3, Small.ImageSize, Small.ImageSize).contiguous();
        var options = new CaptionOptions { BeamSize = beam, MaxLength = 12 };

        var together = CaptionBeamSearcher.Decode(runner, windows, bank, options);
        Assert.Equal(8, together.Count);
        var ends = new List<int>();
        for (int i = 0; i < 8; i++)
        {
            using var window = windows.narrow(0, i, 1);
            var alone = CaptionBeamSearcher.Decode(runner, window, bank, options)[0];
            for (int j = 0; j < beam; j++)
            {
                Assert.Equal(alone.Beams[j].Ids, together[i].Beams[j].Ids);
                Assert.Equal(alone.Beams[j].Score, together[i].Beams[j].Score, 1e-4f);
            }
            ends.Add(together[i].Best.Tokens.Length);
        }
        output.WriteLine($"best-caption lengths: {string.Join(", ", ends)} (max {options.MaxLength})");
        Assert.True(ends.Distinct().Count() >= 2, "premise: the windows' captions end at different steps");
        Assert.Contains(ends, e => e < options.MaxLength);
    }

    [Fact]
    public void An_input_whose_beams_have_all_ended_should_leave_the_batch_with_the_result_of_the_search_that_keeps_every_row()
    {
        const int beam = 2;
        using var search = new CountedSearch();
        var (counting, runner, bank, windows) = (search.Counting, search.Runner, search.Bank, search.Windows);
        var options = new CaptionOptions { BeamSize = beam, MaxLength = 12 };

        counting.Rows = 0;
        var retiring = CaptionBeamSearcher.Decode(runner, windows, bank, options);
        long retiringRows = counting.Rows;
        counting.Rows = 0;
        // A traced search keeps every row in every pass (its trace shows them all).
        var everyRow = CaptionBeamSearcher.Decode(runner, windows, bank, options, trace: _ => { });
        long everyRowRows = counting.Rows;

        for (int i = 0; i < 8; i++)
            for (int j = 0; j < beam; j++)
            {
                Assert.Equal(everyRow[i].Beams[j].Ids, retiring[i].Beams[j].Ids);
                Assert.Equal(everyRow[i].Beams[j].Score, retiring[i].Beams[j].Score);
                Assert.Equal(everyRow[i].Beams[j].TokenLogProbs, retiring[i].Beams[j].TokenLogProbs);
            }
        // Without leaving, an untraced search runs the visual prefix and the first query over 8 rows each, then a pass
        // over 8·beam rows at every step but the last (whose pass only a trace runs): 192 here.
        long keepingEveryRow = 2 * 8 + (options.MaxLength - 1) * 8 * beam;
        output.WriteLine($"rows through layer 0's qkv projection: {retiringRows} with ended inputs leaving, {keepingEveryRow} without, " +
            $"{everyRowRows} traced");
        Assert.True(retiringRows < keepingEveryRow, "inputs whose beams had all ended still ran in later passes");
        Assert.Contains(retiring, r => r.Best.Tokens.Length < options.MaxLength - 2);   // premise: some inputs end early
    }

    [Fact]
    public void Each_input_should_be_told_its_result_once_as_soon_as_it_is_final_while_the_others_still_decode()
    {
        const int beam = 2;
        using var search = new CountedSearch();
        var (counting, runner, bank, windows) = (search.Counting, search.Runner, search.Bank, search.Windows);
        var options = new CaptionOptions { BeamSize = beam, MaxLength = 12 };

        var told = new List<(int Input, CaptionResult Result, long RowsSoFar)>();
        counting.Rows = 0;
        var returned = CaptionBeamSearcher.Decode(runner, windows, bank, options, final: (i, r) => told.Add((i, r, counting.Rows)));
        long allRows = counting.Rows;

        Assert.Equal(Enumerable.Range(0, 8), told.Select(t => t.Input).Order());
        foreach (var (input, result, _) in told) Assert.Same(returned[input], result);
        var early = told.Where(t => t.RowsSoFar < allRows).ToList();
        output.WriteLine($"told before the last pass: inputs {string.Join(", ", early.Select(t => $"{t.Input} (after {t.RowsSoFar} of {allRows} rows)"))}");
        Assert.NotEmpty(early);
        Assert.True(early.Count < 8, "premise: some inputs decode to the last pass");
    }

    [Fact]
    public void A_tensor_the_final_callback_makes_should_stay_the_callers_after_the_step_that_told_it()
    {
        using var search = new CountedSearch();
        var options = new CaptionOptions { BeamSize = 2, MaxLength = 12 };
        var made = new List<(int Input, Tensor Made)>();
        try
        {
            var results = CaptionBeamSearcher.Decode(search.Runner, search.Windows, search.Bank, options,
                final: (i, _) => made.Add((i, TorchScalar.Use((float)i, value => full(1, value)))));
            Assert.Contains(results, r => r.Best.Tokens.Length < options.MaxLength - 2);   // premise: some told mid-search
            Assert.Equal(8, made.Count);
            Assert.All(made, m => Assert.False(m.Made.IsInvalid, $"the tensor made for input {m.Input} was disposed by the search"));
        }
        finally
        {
            foreach (var (_, t) in made) t.Dispose();
        }
    }

    /// <summary>The picture-sensitive model over 8 plain windows of different brightness (captions that end at different
    /// steps with a small bank that holds EOS), its expert calls counted by <see cref="RowCountingExecutor"/>.</summary>
    private sealed class CountedSearch : IDisposable
    {
        private readonly UniPerceiverMoeModel model = PictureSensitiveModel(21);
        private readonly LocalMoeExecutor local;
        private readonly Tensor levels = tensor(new[] { -2f, -1.4f, -0.8f, -0.3f, 0.3f, 0.8f, 1.4f, 2f });

        public CountedSearch()
        {
            local = new LocalMoeExecutor(model, new RouteTable(model));
            Counting = new RowCountingExecutor(local);
            Runner = new UniPerceiverRunner(model, Counting);
            Bank = VocabularyBank.Build(Runner, [320, 1746, 2866, 539, 4160, VocabularyBank.EndOfText]);
            Windows = levels.view(8, 1, 1, 1, 1).expand(8, 1, 3, Small.ImageSize, Small.ImageSize).contiguous();
        }

        public RowCountingExecutor Counting { get; }
        public UniPerceiverRunner Runner { get; }
        public VocabularyBank Bank { get; }
        public Tensor Windows { get; }

        public void Dispose()
        {
            Windows.Dispose();
            Bank.Dispose();
            levels.Dispose();
            local.Dispose();
            model.Dispose();
        }
    }

    /// <summary>Counts the rows (first dimension) that go through layer 0's qkv projection.</summary>
    private sealed class RowCountingExecutor(IMoeLinearExecutor inner) : IMoeLinearExecutor
    {
        public long Rows;

        public Tensor Apply(MoeSite site, Tensor x, TokenRouting routing)
        {
            if (site == new MoeSite(0, MoeLinearKind.QkvProj)) Rows += x.size(0);
            return inner.Apply(site, x, routing);
        }
    }

    [Fact]
    public void A_search_whose_beams_have_all_ended_should_give_the_ids_and_scores_of_the_search_that_runs_every_pass()
    {
        using var model = PictureSensitiveModel(22);
        using var executor = new LocalMoeExecutor(model, new RouteTable(model));
        var runner = new UniPerceiverRunner(model, executor);
        using var bank = VocabularyBank.Build(runner, [320, 1746, VocabularyBank.EndOfText]);
        using var generator = new Generator(6);
        using var windows = randn([3, 1, 3, Small.ImageSize, Small.ImageSize], generator: generator);
        var options = new CaptionOptions { BeamSize = 2, MaxLength = 16 };

        var shortcut = CaptionBeamSearcher.Decode(runner, windows, bank, options);
        int stepsRun = 0;
        // A traced search runs the encoder at every step (its trace shows every step's log-probs).
        var full = CaptionBeamSearcher.Decode(runner, windows, bank, options, trace: _ => stepsRun++);
        Assert.Equal(options.MaxLength, stepsRun);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 2; j++)
            {
                Assert.Equal(full[i].Beams[j].Ids, shortcut[i].Beams[j].Ids);
                Assert.Equal(full[i].Beams[j].Score, shortcut[i].Beams[j].Score, 1e-6f);
                Assert.Equal(full[i].Beams[j].TokenLogProbs, shortcut[i].Beams[j].TokenLogProbs);
            }
        // Premise: every beam of every window ended well before the last step, so the shortcut was taken.
        int longest = shortcut.SelectMany(r => r.Beams).Max(b => b.Tokens.Length);
        output.WriteLine($"longest beam: {longest} tokens (max {options.MaxLength})");
        Assert.True(longest < options.MaxLength - 2, $"premise: all beams end before step {options.MaxLength - 2} (longest {longest})");
    }
}
