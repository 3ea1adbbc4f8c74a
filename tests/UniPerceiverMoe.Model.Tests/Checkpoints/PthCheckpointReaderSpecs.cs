// Specs for PthCheckpointReader: strided/shared storage views, bounds checks, corrupt and foreign zips.
using UniPerceiverMoe.Model.Checkpoints;
using static TorchSharp.torch;
using Entry = UniPerceiverMoe.Model.Tests.Checkpoints.TorchZipWriter.Entry;
using Storage = UniPerceiverMoe.Model.Tests.Checkpoints.TorchZipWriter.Storage;

namespace UniPerceiverMoe.Model.Tests.Checkpoints;

public class PthCheckpointReaderSpecs
{
    private static byte[] FloatBytes(params float[] v) => v.SelectMany(BitConverter.GetBytes).ToArray();

    [Fact]
    public void Reader_should_rebuild_strided_views_offsets_and_shared_storages()
    {
        using var dir = new TempDir();
        var path = dir.File("views.pth");
        var storages = new Dictionary<string, Storage> { ["0"] = new("FloatStorage", 12, FloatBytes(Enumerable.Range(0, 12).Select(i => (float)i).ToArray())) };
        TorchZipWriter.Write(path, new[]
        {
            new Entry("whole", "0", 0, new[] { 3L, 4 }, new[] { 4L, 1 }),
            new Entry("transposed", "0", 0, new[] { 4L, 3 }, new[] { 1L, 4 }),
            new Entry("row1", "0", 4, new[] { 4L }, new[] { 1L }),
            new Entry("alias", "0", 0, new[] { 12L }, new[] { 1L }),
        }, storages, wrapper: null, archive: "views");

        using var reader = PthCheckpointReader.Open(path);
        var tensors = reader.ReadTensors(Assert.IsType<PickleDict>(reader.Root));
        try
        {
            Assert.Equal(new float[] { 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11 }, tensors["transposed"].data<float>().ToArray());
            Assert.True(tensors["transposed"].is_contiguous());
            Assert.Equal(new float[] { 4, 5, 6, 7 }, tensors["row1"].data<float>().ToArray());
            Assert.Equal(new[] { 3L, 4 }, tensors["whole"].shape);
            // "whole" and "alias" cover the whole storage: they share it, as after torch.load; "row1" is a compact copy.
            TorchScalar.Use(10L, ten => tensors["whole"].mul_(ten));
            Assert.Equal(110f, tensors["alias"][11].item<float>());
            Assert.Equal(4f, tensors["row1"][0].item<float>());
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    [Fact]
    public void Reader_should_refuse_a_view_that_runs_past_its_storage()
    {
        using var dir = new TempDir();
        var path = dir.File("overrun.pth");
        var storages = new Dictionary<string, Storage> { ["0"] = new("FloatStorage", 4, FloatBytes(1, 2, 3, 4)) };
        TorchZipWriter.Write(path, new[] { new Entry("w", "0", 2, new[] { 3L }, new[] { 1L }) }, storages, "model");
        using var reader = PthCheckpointReader.Open(path);
        var sd = Assert.IsType<PickleDict>(Assert.IsType<PickleDict>(reader.Root).Items.Single().Value);
        var e = Assert.Throws<CheckpointException>(() => reader.ReadTensors(sd));
        Assert.StartsWith($"{path}: tensor 'w' [3]", e.Message);
    }

    [Fact]
    public void Reader_should_name_the_storage_entry_that_is_too_short()
    {
        using var dir = new TempDir();
        var path = dir.File("short.pth");
        var storages = new Dictionary<string, Storage> { ["0"] = new("FloatStorage", 4, FloatBytes(1, 2)) };
        TorchZipWriter.Write(path, new[] { new Entry("w", "0", 0, new[] { 4L }, new[] { 1L }) }, storages, null);
        using var reader = PthCheckpointReader.Open(path);
        var e = Assert.Throws<CheckpointException>(() => reader.ReadTensors((PickleDict)reader.Root!));
        Assert.Equal($"{path}: storage entry 'archive/data/0' has 8 bytes, 4 x Float32 need 16.", e.Message);
    }

    [Fact]
    public void Reader_should_fail_on_a_truncated_zip_naming_the_file()
    {
        using var dir = new TempDir();
        var path = dir.File("truncated.pth");
        var bytes = File.ReadAllBytes(CheckpointTestFiles.GoldenModel);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<CheckpointException>(() => PthCheckpointReader.Open(path));
        Assert.StartsWith($"{path}: truncated or corrupt zip archive", e.Message);
    }

    [Fact]
    public void Reader_should_refuse_a_zip_without_data_pkl()
    {
        using var dir = new TempDir();
        var path = dir.File("other.zip");
        using (var zip = System.IO.Compression.ZipFile.Open(path, System.IO.Compression.ZipArchiveMode.Create))
            using (var s = zip.CreateEntry("readme.txt").Open()) s.Write("hello"u8);
        var e = Assert.Throws<CheckpointException>(() => PthCheckpointReader.Open(path));
        Assert.Equal($"{path}: zip has 0 '<archive>/data.pkl' entries, expected one (not a torch.save checkpoint).", e.Message);
    }

    [Fact]
    public void TensorBytes_should_fill_large_tensors_chunk_by_chunk()
    {
        var data = FloatBytes(Enumerable.Range(0, 10).Select(i => i * 0.5f).ToArray());
        using var t = empty(new[] { 10L }, ScalarType.Float32);
        TensorBytes.Fill(t, new MemoryStream(data), chunkBytes: 12);   // 3 floats per chunk, last chunk of 1
        Assert.Equal(Enumerable.Range(0, 10).Select(i => i * 0.5f), t.data<float>().ToArray());
    }
}
