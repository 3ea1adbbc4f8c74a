using UniPerceiverMoe.Demo.Synthetic;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Synthetic;

public sealed class SyntheticVideoSpecs
{
    private static readonly SyntheticVideoGenerator Generator = new();

    [Fact]
    public void Generator_should_return_the_same_clip_for_the_same_seed_and_index_and_another_for_another_seed()
    {
        Assert.Equal(Generator.Sample(7, 42), Generator.Sample(7, 42));
        var a = Generator.SampleMany(7, 0, 20);
        var b = Generator.SampleMany(8, 0, 20);
        Assert.NotEqual(a.Select(c => c.StartX), b.Select(c => c.StartX));
        Assert.Equal(ClipRenderer.RenderFrame(a[3], 32, Generator.Options), ClipRenderer.RenderFrame(a[3], 32, Generator.Options));
    }

    [Fact]
    public void Generator_should_keep_every_shape_inside_the_canvas_for_the_whole_clip()
    {
        foreach (var clip in Generator.SampleMany(3, 0, 500))
            foreach (float p in new[] { 0f, 0.5f, 1f })
            {
                var (x, y) = clip.CentreAt(p);
                Assert.InRange(x - clip.Radius, 0, clip.CanvasSize);
                Assert.InRange(x + clip.Radius, 0, clip.CanvasSize);
                Assert.InRange(y - clip.Radius, 0, clip.CanvasSize);
                Assert.InRange(y + clip.Radius, 0, clip.CanvasSize);
            }
    }

    [Fact]
    public void Generator_should_cover_every_shape_colour_and_action()
    {
        var clips = Generator.SampleMany(5, 0, 400);
        Assert.Equal(3, clips.Select(c => c.Shape).Distinct().Count());
        Assert.Equal(SyntheticPalette.Colours.Count, clips.Select(c => c.Colour).Distinct().Count());
        Assert.Equal(7, clips.Select(c => c.Action).Distinct().Count());
        Assert.All(clips.Where(c => c.Action == ClipAction.Turn), c => Assert.NotEqual(c.Colour, c.SecondColour));
    }

    [Theory]
    [InlineData(ClipAction.MoveLeft, -1, 0)]
    [InlineData(ClipAction.MoveRight, 1, 0)]
    [InlineData(ClipAction.MoveUp, 0, -1)]
    [InlineData(ClipAction.MoveDown, 0, 1)]
    public void Rendered_frames_should_show_the_shape_moving_in_its_direction(ClipAction action, int dx, int dy)
    {
        var clip = Generator.SampleMany(11, 0, 300).First(c => c.Action == action);
        using var frames = ClipRenderer.RenderModelFrames(clip, Generator.Options);           // [4, 224, 224, 3]
        Assert.Equal(new long[] { 4, 224, 224, 3 }, frames.shape);
        var (x0, y0) = Centroid(frames, 0, clip);
        var (x3, y3) = Centroid(frames, 3, clip);
        float moved = clip.Distance * Generator.Options.Progress(Generator.Options.ModelFrameIndices()[3]);
        Assert.InRange((x3 - x0) * dx + (y3 - y0) * dy, moved - 3, moved + 3);
        Assert.InRange(Math.Abs((x3 - x0) * dy) + Math.Abs((y3 - y0) * dx), 0, 3);
    }

    [Fact]
    public void Appearing_disappearing_and_turning_shapes_should_change_between_the_first_and_last_model_frame()
    {
        var clips = Generator.SampleMany(13, 0, 300);
        var first = Generator.Options.Progress(Generator.Options.ModelFrameIndices()[0]);
        var last = Generator.Options.Progress(Generator.Options.ModelFrameIndices()[^1]);
        foreach (var clip in clips.Where(c => c.Action >= ClipAction.Turn).Take(30))
        {
            switch (clip.Action)
            {
                case ClipAction.Appear: Assert.True(!clip.VisibleAt(first) && clip.VisibleAt(last)); break;
                case ClipAction.Disappear: Assert.True(clip.VisibleAt(first) && !clip.VisibleAt(last)); break;
                default: Assert.NotEqual(clip.ColourAt(first), clip.ColourAt(last)); break;
            }
        }
    }

    [Fact]
    public void Grammar_should_produce_150_distinct_captions_and_caption_clips_as_the_labels_say()
    {
        var all = CaptionGrammar.AllCaptions();
        Assert.Equal(150, all.Count);
        Assert.Equal(150, all.Distinct().Count());
        var clip = new SyntheticClip(ShapeKind.Circle, 0, ClipAction.MoveLeft, 1, 100, 100, 30, 100, 0.5f, 30, 1, 224);
        Assert.Equal("a red circle moves to the left", CaptionGrammar.Caption(clip));
        Assert.Equal("a blue triangle turns yellow", CaptionGrammar.Caption(clip with { Shape = ShapeKind.Triangle, Colour = 2, Action = ClipAction.Turn, SecondColour = 3 }));
        Assert.Contains(CaptionGrammar.Caption(clip with { Action = ClipAction.Disappear }), all);
    }

    /// <summary>Centroid of the pixels that have the clip's colour (±20 per channel) in frame <paramref name="t"/>.</summary>
    private static (float X, float Y) Centroid(Tensor frames, int t, SyntheticClip clip)
    {
        var c = SyntheticPalette.Colours[clip.Colour];
        using var frame = frames[t].to_type(ScalarType.Int32);
        using var target = tensor(new[] { (int)c.R, c.G, c.B });
        using var match = TorchScalar.Use(20L, tolerance => frame.sub(target).abs().le(tolerance)).all(-1);                                 // [H, W]
        using var idx = match.nonzero().to_type(ScalarType.Float32);                              // [k, 2] (y, x)
        Assert.True(idx.shape[0] > 100, "the shape should cover more than 100 pixels");
        using var mean = idx.mean([0L]);
        var m = mean.data<float>().ToArray();
        return (m[1], m[0]);
    }
}
