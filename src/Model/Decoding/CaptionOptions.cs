namespace UniPerceiverMoe.Model.Decoding;

/// <summary>Beam-search settings; defaults are the zero-shot caption configs (beam 2, 21 steps, length penalty 2.0).</summary>
public sealed record CaptionOptions
{
    public int BeamSize { get; init; } = 2;
    public int MaxLength { get; init; } = 21;
    /// <summary>score = Σ log p / (count(ids ≠ EOS) + 1)^LengthPenalty; 0 disables the division.</summary>
    public double LengthPenalty { get; init; } = 2.0;
    public long EosId { get; init; } = VocabularyBank.EndOfText;
    /// <summary>Temperature name (loss_prepare.logit_scale_{name}); captioning uses "caption".</summary>
    public string Temperature { get; init; } = "caption";

    public CaptionOptions Validate()
    {
        if (BeamSize < 1) throw new ArgumentException($"beam size must be at least 1 (got {BeamSize}).");
        if (MaxLength < 1 || MaxLength > 256) throw new ArgumentException($"max length must be in 1..256 (got {MaxLength}).");
        if (LengthPenalty < 0) throw new ArgumentException($"length penalty must be >= 0 (got {LengthPenalty}).");
        return this;
    }
}

/// <summary>One finished hypothesis. <see cref="Ids"/> has MaxLength token ids (EOS repeats after the end).</summary>
public sealed record CaptionBeam(long[] Ids, float[] TokenLogProbs, float LogProbSum, float Score, long EosId)
{
    /// <summary>The caption's token ids up to (not including) the first EOS.</summary>
    public long[] Tokens => Ids.TakeWhile(id => id != EosId).ToArray();
}

/// <summary>All beams of one input, best (highest score) first.</summary>
public sealed record CaptionResult(IReadOnlyList<CaptionBeam> Beams)
{
    public CaptionBeam Best => Beams[0];
}
