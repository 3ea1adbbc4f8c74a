using UniPerceiverMoe.Host.Cli;
using UniPerceiverMoe.Host.Outputs;
using System.CommandLine;
using UniPerceiverMoe.Host.Inputs;

namespace UniPerceiverMoe.Host.Cli.Commands;

/// <summary><c>upmoe classify</c>: zero-shot classification of an image or video against free-text labels.</summary>
public static class ClassifyCommand
{
    public static Command Create()
    {
        var engineOptions = new EngineOptions();
        var visual = new VisualOptions(frames: 8, stride: 32, views: 4);
        var labels = new Option<string?>("--labels") { Description = "Comma-separated class names", HelpName = "\"a,b,c\"" };
        var labelsFile = new Option<string?>("--labels-file") { Description = "Class names, one per line", HelpName = "PATH" };
        var top = new Option<int>("--top") { Description = "How many labels to print", HelpName = "K", DefaultValueFactory = _ => 5 };
        top.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 1) r.AddError("--top must be at least 1.");
        });
        var command = new Command("classify", "Classify an image or a video clip against the given labels");
        engineOptions.AddTo(command);
        visual.AddTo(command);
        command.Add(labels);
        command.Add(labelsFile);
        command.Add(top);
        command.Validators.Add(r =>
        {
            bool list = r.GetResult(labels) is { Implicit: false }, file = r.GetResult(labelsFile) is { Implicit: false };
            if (list == file) r.AddError("give exactly one of --labels or --labels-file.");
        });

        CliAction.Bind(command, engineOptions, async (context, cancellation) =>
        {
            context.Settings();                 // a wrong checkpoint or config fails before any input is decoded
            var names = context.Value(labels) is { } list
                ? TextLists.FromCommaList(list, "--labels")
                : TextLists.FromFile(context.Value(labelsFile)!, "labels");
            using var input = await visual.LoadAsync(context, ImagePipeline.ImageNet, maxRank: 5, cancellation).ConfigureAwait(false);
            var engine = await context.EngineAsync(cancellation).ConfigureAwait(false);
            string labelSource = context.Value(labelsFile) ?? "--labels";
            foreach (var name in names) context.CheckText(engine, labelSource, name);
            var result = await engine.ClassifyAsync(input.Pixels, names, input.IsVideo, cancellation).ConfigureAwait(false);
            var shown = result.Labels.Take(context.Value(top)).Select(l => new LabelJson(l.Label, l.Logit, l.Probability)).ToArray();
            if (context.Json)
            {
                JsonOutput.Write(context.Output, new ClassifyJson(input.Name, result.Temperature, result.Views, shown));
            }
            else
            {
                int width = shown.Max(l => l.Label.Length);
                foreach (var l in shown)
                    context.Output.WriteLine($"{l.Probability * 100,6:0.00} %  {l.Label.PadRight(width)}  (logit {l.Logit:0.0000})");
            }
            return ExitCodes.Ok;
        });
        return command;
    }
}
