using System.CommandLine;

namespace UniPerceiverMoe.Host.Cli;

/// <summary>The options every engine-backed command shares. One instance per command (an option belongs to one
/// command); <see cref="CommandContext"/> turns the parsed values into configuration.</summary>
public sealed class EngineOptions
{
    public Option<string?> Checkpoint { get; } = new("--checkpoint")
    {
        Description = "Checkpoint to serve (.pth or .safetensors); without one (nor upmoe.engine.checkpoint in --config) the demo model",
        HelpName = "PATH",
    };

    public Option<string?> Vocab { get; } = new("--vocab") { Description = "CLIP BPE merges file (bpe_simple_vocab_16e6.txt[.gz])", HelpName = "PATH" };

    public Option<string?> Config { get; } = new("--config") { Description = "HOCON file layered over the defaults (hocon/reference.conf)", HelpName = "FILE.conf" };

    public Option<string?> ModelConfig { get; } = new("--model-config") { Description = "Model shape: tiny, base, large, a config.json path or auto", HelpName = "NAME|PATH" };

    public Option<string?> CacheDir { get; } = new("--cache-dir") { Description = "Cache directory (vocabulary banks); default $UPMOE_CACHE, then ~/.cache/upmoe", HelpName = "DIR" };

    public Option<int?> Threads { get; } = new("--threads") { Description = "Torch intra-op threads (default: one per core)", HelpName = "N" };

    public Option<bool> Json { get; } = new("--json") { Description = "Print one JSON object on stdout instead of text" };

    public Option<bool> Quiet { get; } = new("--quiet", "-q") { Description = "No progress on stderr (errors are still printed)" };

    public Option<bool> Verbose { get; } = new("--verbose") { Description = "Print stack traces with errors" };

    public EngineOptions()
    {
        Threads.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is < 1) r.AddError("--threads must be at least 1.");
        });
    }

    /// <param name="json">Whether the command has --json (commands without one-shot output, like serve, do not).</param>
    public void AddTo(Command command, bool json = true)
    {
        foreach (var option in new Option[] { Checkpoint, Vocab, Config, ModelConfig, CacheDir, Threads, Json, Quiet, Verbose })
            if (json || option != Json) command.Add(option);
    }
}
