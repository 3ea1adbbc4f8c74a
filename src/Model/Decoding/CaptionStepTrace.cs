using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Decoding;

/// <summary>
/// What one decode step computed, for parity tests and debugging. Tensors are valid only during the callback and
/// belong to the step's dispose scope: keep copies with <c>t.clone().DetachFromDisposeScope()</c>.
/// Rows are the live beams in the searcher's order at that step (1 row per input at step 0).
/// </summary>
public sealed record CaptionStepTrace(
    int Step,
    Tensor QueryEmbedding,        // [rows, D]   the step's query token embedding
    Tensor QueryLayerOutputs,     // [L, rows, D] output of every layer for the query token
    Tensor QueryFeature,          // [rows, D]   normalised projected query feature
    Tensor LogProb,               // [rows, V]   log_softmax over the bank
    Tensor WordLayerOutputs);     // [L, B·beam, D] output of every layer when the chosen words are re-encoded
