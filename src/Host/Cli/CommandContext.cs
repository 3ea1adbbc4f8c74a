using UniPerceiverMoe.Host.Inputs;
using System.CommandLine;
using Akka.Configuration;
using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Model.Tokenization;
using UniPerceiverMoe.Demo.Training;

namespace UniPerceiverMoe.Host.Cli;

/// <summary>
/// One invocation of an engine-backed command: its writers (stdout for results only, stderr for progress and
/// errors), the parsed <see cref="EngineOptions"/>, and the engine, started on demand and disposed with the context.
/// </summary>
public sealed class CommandContext : IAsyncDisposable
{
    private readonly ParseResult parse;
    private readonly EngineOptions options;
    private UniPerceiverEngine? engine;
    private (Config Config, EngineSettings Settings)? resolved;
    private DemoManifest? demo;

    public CommandContext(ParseResult parse, EngineOptions options)
    {
        this.parse = parse;
        this.options = options;
        Output = parse.InvocationConfiguration.Output;
        Error = parse.InvocationConfiguration.Error;
        // In-place progress only on a real terminal; captured or redirected stderr gets whole lines.
        ErrorIsTerminal = ReferenceEquals(Error, Console.Error) && !Console.IsErrorRedirected;
    }

    public TextWriter Output { get; }
    public TextWriter Error { get; }
    public bool ErrorIsTerminal { get; }
    public bool Json => parse.GetValue(options.Json);
    public bool Quiet => parse.GetValue(options.Quiet);
    public bool Verbose => parse.GetValue(options.Verbose);
    private string ConfigName => parse.GetValue(options.Config) ?? "configuration";

    public T? Value<T>(Option<T> option) => parse.GetValue(option);

    /// <summary>Whether <paramref name="option"/> was on the command line (not just its default).</summary>
    public bool Given(Option option) => parse.GetResult(option) is { Implicit: false };

    /// <summary>A progress line on stderr (nothing under --quiet).</summary>
    public void Log(string line)
    {
        if (!Quiet) Error.WriteLine(line);
    }

    /// <summary>Configuration: --config (or the defaults) with the command-line options on top.</summary>
    public Config BuildConfig()
    {
        string? file = parse.GetValue(options.Config);
        var overrides = new List<string>();
        if (parse.GetValue(options.Checkpoint) is { } checkpoint) overrides.Add(Key("checkpoint", checkpoint));
        if (parse.GetValue(options.Vocab) is { } vocab) overrides.Add(Key("vocab", vocab));
        if (parse.GetValue(options.ModelConfig) is { } model) overrides.Add(Key("model-config", model));
        if (parse.GetValue(options.CacheDir) is { } cache) overrides.Add(Key("cache-dir", cache));
        if (parse.GetValue(options.Threads) is { } threads) overrides.Add($"upmoe.engine.torch-threads = {threads}");
        return InputErrors.Guard(file ?? "--config", () => UpmoeConfig.Load(file is null ? [] : [file], [string.Join("\n", overrides)]));

        static string Key(string key, string value) => $"upmoe.engine.{key} = {UpmoeConfig.Quote(value)}";
    }

    /// <summary>The configuration the engine starts with: <see cref="BuildConfig"/> plus the demo model when no
    /// checkpoint was given (see <see cref="Settings"/>).</summary>
    public Config ResolvedConfig()
    {
        Settings();
        return resolved!.Value.Config;
    }

    /// <summary>The demo model's manifest when no checkpoint was given and the command fell back to the demo model
    /// (after <see cref="Settings"/>); null otherwise.</summary>
    public DemoManifest? Demo => demo;

    /// <summary>The engine settings (configuration validated, checkpoint present), resolved once. With no checkpoint
    /// given (nor in --config) the demo model stands in, said on one stderr line. Commands call it before reading
    /// their inputs so a wrong checkpoint fails before a long video is decoded.</summary>
    public EngineSettings Settings()
    {
        if (resolved is { } done) return done.Settings;
        var config = BuildConfig();
        var settings = InputErrors.Guard(ConfigName, () => EngineSettings.FromConfig(config));
        if (string.IsNullOrEmpty(settings.Checkpoint))              // null when a HOCON file leaves "checkpoint =" empty
            (config, settings) = WithDemoModel(config, settings);
        string checkpoint = settings.Checkpoint;
        if (Directory.Exists(checkpoint)) throw new InputException(checkpoint, "is a directory, not a checkpoint file");
        if (!File.Exists(checkpoint)) throw new InputException(checkpoint, "checkpoint not found");
        resolved = (config, settings);
        return settings;
    }

    /// <summary>The configuration with the demo model as checkpoint (its config.json beside it, unless --model-config
    /// names another shape); fails naming where it looked when there is none.</summary>
    private (Config, EngineSettings) WithDemoModel(Config config, EngineSettings settings)
    {
        string cache = settings.ResolvedCacheDir;
        string directory = DemoModelLocator.Find(cache) ?? throw new InputException("--checkpoint",
            $"no checkpoint given (nor upmoe.engine.checkpoint in --config), and no demo model in {DemoModelLocator.Shipped} " +
            $"or {DemoModelLocator.Cached(cache)} (train one with 'upmoe train-demo --out {DemoModelLocator.Cached(cache)}')");
        demo = InputErrors.Guard(directory, () => DemoManifest.FromJsonFile(Path.Combine(directory, DemoModelFiles.ManifestFile)));
        var overrides = $"upmoe.engine.checkpoint = {UpmoeConfig.Quote(Path.Combine(directory, DemoModelFiles.ModelFile))}";
        if (parse.GetValue(options.ModelConfig) is null) overrides += "\nupmoe.engine.model-config = auto";
        var withDemo = UpmoeConfig.Over(config, overrides);
        Log(DemoModelLocator.Notice(directory));
        return (withDemo, InputErrors.Guard(ConfigName, () => EngineSettings.FromConfig(withDemo)));
    }

    /// <summary>Starts the engine (once per context): loads the tokenizer and the model and reports progress on
    /// stderr. Failures name the input at fault (checkpoint, vocabulary, configuration).</summary>
    public async Task<UniPerceiverEngine> EngineAsync(CancellationToken cancellation)
    {
        if (engine is not null) return engine;
        var settings = Settings();
        var config = resolved!.Value.Config;
        string checkpoint = settings.Checkpoint, configName = ConfigName;
        var modelConfig = InputErrors.Guard(settings.ModelConfig is "auto" or "" ? checkpoint : settings.ModelConfig,
            () => ModelConfigResolver.Resolve(settings.ModelConfig, checkpoint));
        string vocabName = settings.Vocab.Length > 0 ? settings.Vocab : "CLIP vocabulary";
        // A text longer than the model's learned text positions can never be a model input: such a text is refused
        // with a clear error instead of being cut silently to the target length.
        var limits = new ClipTokenizerLimits(MaxTokens: modelConfig.TextPositions);
        var tokenizer = InputErrors.Guard(vocabName, () => ClipTokenizer.Load(settings.Vocab.Length > 0 ? settings.Vocab : null, limits));
        cancellation.ThrowIfCancellationRequested();
        var start = new EngineStartOptions
        {
            Tokenizer = tokenizer,
            // The demo model knows only its corpus words: decode against them (the bank is built in a second).
            CaptionVocabulary = demo?.CorpusWordIds,
            Log = Quiet ? null : Log,
            BankProgress = Quiet ? null : new StderrProgress("vocabulary bank", Error, ErrorIsTerminal),
        };
        engine = await Task.Run(() =>
        {
            try
            {
                return EngineLauncher.Start(config, start);
            }
            catch (Exception e) when (InputErrors.Unwrap(e) is ConfigurationException c)
            {
                throw InputErrors.AsInput(configName, c);
            }
            catch (Exception e) when (InputErrors.IsInputFault(InputErrors.Unwrap(e)))
            {
                throw InputErrors.AsInput(checkpoint, InputErrors.Unwrap(e));
            }
        }, cancellation).ConfigureAwait(false);
        return engine;
    }

    /// <summary>Checks that <paramref name="text"/> tokenizes within the limits; the error names <paramref name="input"/>.</summary>
    public void CheckText(UniPerceiverEngine started, string input, string text) =>
        InputErrors.Guard(input, () => started.Tokenizer.Encode(text));

    public async ValueTask DisposeAsync()
    {
        if (engine is not null) await engine.DisposeAsync().ConfigureAwait(false);
        engine = null;
    }
}
