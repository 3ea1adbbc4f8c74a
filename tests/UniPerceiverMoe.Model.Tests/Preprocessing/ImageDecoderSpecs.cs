using UniPerceiverMoe.Model.Preprocessing;
using static TorchSharp.torch;

using UniPerceiverMoe.TestSupport;

namespace UniPerceiverMoe.Model.Tests.Preprocessing;

[Collection("ffmpeg")]
public sealed class ImageDecoderSpecs : IDisposable
{
    private readonly TempFolder temp = new();

    [Fact]
    [Trait("Category", "Golden")]
    public void DecodeRgb_should_round_trip_a_png_and_feed_the_clip_transform()
    {
        var raw = PreprocessingFixtures.Input("image.raw_u8");
        var pixels = PreprocessingFixtures.Bytes(raw);
        var path = temp.File("raw.png");
        var (height, width) = GoldenFacts.RawImageSize;
        File.WriteAllBytes(path, PngWriter.EncodeRgb(pixels, height, width));

        var (hwc, h, w) = ImageDecoder.DecodeRgb(path);
        Assert.Equal((height, width), (h, w));
        Assert.Equal(pixels, hwc);
        using var x = ImageTransforms.ClipTransform(hwc, h, w);
        using var diff = (x - PreprocessingFixtures.Input("image.clip_224")).abs().max();
        Assert.True(diff.item<float>() < 0.0175f);
    }

    [Fact]
    public void DecodeRgb_should_decode_a_jpeg_close_to_its_png_source()
    {
        PreprocessingFixtures.Ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48", "-frames:v", "1", temp.File("a.png"));
        PreprocessingFixtures.Ffmpeg("-i", temp.File("a.png"), "-q:v", "2", temp.File("a.jpg"));
        var (png, ph, pw) = ImageDecoder.DecodeRgb(temp.File("a.png"));
        var (jpg, jh, jw) = ImageDecoder.DecodeRgb(temp.File("a.jpg"));
        Assert.Equal((48, 64), (ph, pw));
        Assert.Equal((48, 64), (jh, jw));
        double meanAbs = png.Zip(jpg).Average(p => Math.Abs(p.First - p.Second));
        Assert.True(meanAbs < 12, $"mean |png - jpeg| = {meanAbs}");
    }

    [Fact]
    public void DecodeRgb_should_name_an_empty_file()
    {
        var path = temp.File("empty.png");
        File.WriteAllBytes(path, []);
        var e = Assert.Throws<InvalidDataException>(() => ImageDecoder.DecodeRgb(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void DecodeRgb_should_reject_bytes_that_are_not_an_image()
    {
        var path = temp.File("notes.jpg");
        File.WriteAllText(path, "hello, this is text");
        var e = Assert.Throws<InvalidDataException>(() => ImageDecoder.DecodeRgb(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("not a PNG or JPEG", e.Message);
    }

    [Fact]
    public void DecodeRgb_should_report_a_truncated_png()
    {
        var png = PngWriter.EncodeRgb(PreprocessingFixtures.Bytes(PreprocessingFixtures.Input("image.raw_u8")), 240, 320);
        var e = Assert.Throws<InvalidDataException>(() => ImageDecoder.DecodeRgb(png[..(png.Length / 2)], "cut.png"));
        Assert.Contains("cut.png", e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Theory]
    [InlineData(2)]     // only the end-of-image marker missing
    [InlineData(1000)]  // scan data cut
    public void DecodeRgb_should_report_a_truncated_jpeg(int cut)
    {
        PreprocessingFixtures.Ffmpeg("-f", "lavfi", "-i", "testsrc=size=128x96", "-frames:v", "1", "-q:v", "2", temp.File("b.jpg"));
        var jpg = File.ReadAllBytes(temp.File("b.jpg"));
        Assert.True(jpg.Length > cut + 700);
        Assert.Equal((96, 128), (ImageDecoder.DecodeRgb(jpg).Height, ImageDecoder.DecodeRgb(jpg).Width));
        var e = Assert.Throws<InvalidDataException>(() => ImageDecoder.DecodeRgb(jpg[..^cut], "cut.jpg"));
        Assert.Contains("cut.jpg", e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void DecodeRgb_should_say_when_the_file_does_not_exist()
        => Assert.Throws<FileNotFoundException>(() => ImageDecoder.DecodeRgb(temp.File("missing.png")));

    public void Dispose() => temp.Dispose();
}
