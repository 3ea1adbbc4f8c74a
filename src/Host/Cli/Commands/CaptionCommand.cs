using UniPerceiverMoe.Host.Cli;
using UniPerceiverMoe.Host.Outputs;
using System.CommandLine;
using UniPerceiverMoe.Host.Inputs;
using UniPerceiverMoe.Model.Decoding;
using UniPerceiverMoe.Actors.Engine;

namespace UniPerceiverMoe.Host.Cli.Commands;

/// <summary><c>upmoe caption</c>: zero-shot captioning of one image or clip with the reference beam search.</summary>
public static class CaptionCommand
{
    public static Command Create()
    {
        var engineOptions = new EngineOptions();
        var visual = new VisualOptions(frames: 4, stride: 32, views: null);
        var beam = new Option<int>("--beam") { Description = "Beam size", HelpName = "N", DefaultValueFactory = _ => 2 };
        var maxLength = new Option<int>("--max-len") { Description = "Maximum caption length in tokens", HelpName = "N", DefaultValueFactory = _ => 21 };
        var lengthPenalty = new Option<double>("--length-penalty")
        {
            Description = "Score = sum log p / (length + 1)^X; 0 disables",
            HelpName = "X",
            DefaultValueFactory = _ => 2.0,
        };
        var command = new Command("caption", "Caption an image or a video clip");
        engineOptions.AddTo(command);
        visual.AddTo(command);
        command.Add(beam);
        command.Add(maxLength);
        command.Add(lengthPenalty);

        CliAction.Bind(command, engineOptions, async (context, cancellation) =>
        {
            context.Settings();                 // a wrong checkpoint or config fails before any input is decoded
            var options = InputErrors.Guard("--beam/--max-len/--length-penalty", () => new CaptionOptions
            {
                BeamSize = context.Value(beam),
                MaxLength = context.Value(maxLength),
                LengthPenalty = context.Value(lengthPenalty),
            }.Validate());
            using var input = await visual.LoadAsync(context, ImagePipeline.Clip, maxRank: 4, cancellation).ConfigureAwait(false);
            var engine = await context.EngineAsync(cancellation).ConfigureAwait(false);
            var result = await engine.CaptionAsync(input.Pixels, options, cancellation: cancellation).ConfigureAwait(false);
            var beams = BeamJson.Of(result);
            var best = beams[0];
            if (context.Json)
            {
                JsonOutput.Write(context.Output, new CaptionJson(input.Name, best.Ids, best.Text, best.Score, beams));
            }
            else
            {
                context.Output.WriteLine(best.Text);
                context.Output.WriteLine($"  score {best.Score:0.0000} (best of {beams.Length} beam{(beams.Length == 1 ? "" : "s")})");
            }
            return ExitCodes.Ok;
        });
        return command;
    }
}
