using Akka;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Model.Preprocessing;

namespace UniPerceiverMoe.Streams.Sources;

/// <summary>
/// A stream's frames before sampling. <paramref name="Name"/> names the input in errors and output (a path, URL,
/// "stdin"); <paramref name="Fps"/> is the rate the frames are indexed at (frame i is at i / fps seconds);
/// <paramref name="Live"/>: the source cannot be slowed down (a URL, a pipe, a paced file), so overload policy
/// <c>auto</c> drops windows instead of back-pressuring; <paramref name="Paced"/>: the pipeline releases frame i at
/// start + i / fps (real-time playback of a file). <paramref name="Frames"/> must yield consecutive indices and may
/// be materialized once per stream.
/// </summary>
public sealed record FrameSource(string Name, double Fps, bool Live, bool Paced, Source<VideoFrame, NotUsed> Frames);
