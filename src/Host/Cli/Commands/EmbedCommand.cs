using UniPerceiverMoe.Host.Cli;
using System.CommandLine;
using UniPerceiverMoe.Host.Inputs;
using UniPerceiverMoe.Model.Checkpoints;
using UniPerceiverMoe.Model.Tasks;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Host.Cli.Commands;

/// <summary>
/// <c>upmoe embed</c>: the normalised spe feature [1, D] of one input for a task, written to a safetensors file as
/// "feature" with metadata (task, input, checkpoint file and its SHA-256) so features of other weights are never mixed.
/// Videos are one clip (video-classification: 8 frames, the retrieval tasks: 4; stride 32) — one input, one feature.
/// </summary>
public static class EmbedCommand
{
    public sealed record EmbedJson(string Out, string Task, string Input, long[] Shape, string CheckpointSha256);

    private static readonly string[] TaskNames = Enum.GetValues<EmbedTask>().Select(EmbedTasks.Name).ToArray();

    public static Command Create()
    {
        var engineOptions = new EngineOptions();
        var visual = new VisualOptions(frames: 4, stride: 32, views: null);
        var task = new Option<string>("--task") { Description = "What the feature is for", Required = true, HelpName = "TASK" };
        task.AcceptOnlyFromAmong(TaskNames);
        var text = new Option<string?>("--text") { Description = "Text to embed (retrieval-target, class-name-target)", HelpName = "\"text\"" };
        var output = new Option<string>("--out") { Description = "Output file", Required = true, HelpName = "FILE.safetensors" };
        var command = new Command("embed", "Write the feature of an image, video or text for a task to a safetensors file");
        engineOptions.AddTo(command);
        visual.AddTo(command, required: false);
        command.Add(task);
        command.Add(text);
        command.Add(output);
        command.Validators.Add(r =>
        {
            if (r.GetValue(task) is not { } name || !TaskNames.Contains(name)) return;   // reported by AcceptOnlyFromAmong
            var parsed = EmbedTasks.Parse(name);
            bool textGiven = r.GetResult(text) is { Implicit: false };
            bool imageGiven = r.GetResult(visual.Image) is { Implicit: false }, videoGiven = r.GetResult(visual.Video) is { Implicit: false };
            if (EmbedTasks.IsText(parsed))
            {
                if (!textGiven || visual.Given(r) > 0) r.AddError($"--task {name} embeds text: give --text only.");
            }
            else if (textGiven || visual.Given(r) != 1)
                r.AddError($"--task {name} embeds pixels: give exactly one of --image, --video or --tensor.");
            else if (EmbedTasks.IsVideo(parsed) ? imageGiven : videoGiven)
                r.AddError($"--task {name} takes {(EmbedTasks.IsVideo(parsed) ? "a video" : "an image")}.");
        });

        CliAction.Bind(command, engineOptions, async (context, cancellation) =>
        {
            string checkpoint = context.Settings().Checkpoint;
            var embedTask = EmbedTasks.Parse(context.Value(task)!);
            string outPath = context.Value(output)!;
            string inputName;
            Tensor feature;
            if (EmbedTasks.IsText(embedTask))
            {
                string value = context.Value(text)!;
                var engine = await context.EngineAsync(cancellation).ConfigureAwait(false);
                context.CheckText(engine, "--text", value);
                inputName = "--text";
                feature = await engine.EmbedTextAsync(value, embedTask, cancellation).ConfigureAwait(false);
            }
            else
            {
                bool video = EmbedTasks.IsVideo(embedTask);
                var pipeline = embedTask == EmbedTask.ImageClassification ? ImagePipeline.ImageNet : ImagePipeline.Clip;
                using var input = await visual.LoadAsync(context, pipeline, maxRank: video ? 4 : 3, cancellation,
                    framesWhenUnset: embedTask == EmbedTask.VideoClassification ? 8 : null).ConfigureAwait(false);
                if (input.IsVideo != video)
                    throw new InputException(input.Name, $"is {(input.IsVideo ? "a clip" : "an image")}, but --task {EmbedTasks.Name(embedTask)} embeds {(video ? "a clip [T, 3, S, S]" : "an image [3, S, S]")}");
                var engine = await context.EngineAsync(cancellation).ConfigureAwait(false);
                inputName = input.Name;
                feature = await engine.EmbedVisualAsync(input.Pixels, embedTask, cancellation).ConfigureAwait(false);
            }
            using (feature)
            {
                string sha = CheckpointFingerprint.Compute(checkpoint);
                var metadata = new Dictionary<string, string>
                {
                    ["task"] = EmbedTasks.Name(embedTask),
                    ["input"] = inputName,
                    ["checkpoint"] = Path.GetFileName(checkpoint),
                    ["checkpoint_sha256"] = sha,
                };
                InputErrors.Guard(outPath, () =>
                {
                    SafeTensors.Save(outPath, new Dictionary<string, Tensor> { ["feature"] = feature }, metadata);
                    return true;
                });
                if (context.Json)
                    JsonOutput.Write(context.Output, new EmbedJson(outPath, EmbedTasks.Name(embedTask), inputName, feature.shape, sha));
                else
                    context.Output.WriteLine($"{EmbedTasks.Name(embedTask)} feature [{string.Join(", ", feature.shape)}] of {inputName} written to {outPath}");
            }
            return ExitCodes.Ok;
        });
        return command;
    }
}
