using Microsoft.AspNetCore.Http;
using UniPerceiverMoe.Host.Inputs;
using UniPerceiverMoe.Model.Preprocessing;

namespace UniPerceiverMoe.Host.Server;

/// <summary>
/// Reads uploads: the form (size limit → 413, not a form → 415, malformed → 400) and its files, whose declared type
/// and first bytes decide what they are: PNG/JPEG bytes are images; video/* (or an undeclared type) that is not an
/// image goes to ffmpeg; any other declared type → 415. Decoding failures (corrupt, empty, mislabelled) → 422
/// naming the upload. Inputs are preprocessed exactly as the CLI does (<see cref="VisualLoader"/>).
/// </summary>
public static class Uploads
{
    private static readonly byte[] PngMagic = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];
    private static readonly string TempRoot = Path.Combine(Path.GetTempPath(), $"upmoe-uploads-{Environment.ProcessId}");

    /// <summary>The request's form. <paramref name="multipartOnly"/> refuses url-encoded forms (endpoints taking files).</summary>
    public static async Task<IFormCollection> ReadFormAsync(HttpRequest request, long maxUpload, bool multipartOnly, CancellationToken cancellation)
    {
        if (request.ContentLength > maxUpload) throw ApiException.TooLarge(maxUpload);
        bool multipart = request.ContentType?.StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase) == true;
        if (!request.HasFormContentType || (multipartOnly && !multipart))
            throw ApiException.Unsupported($"expected a multipart/form-data upload{(multipartOnly ? "" : " or form")}, got {request.ContentType ?? "no Content-Type"}");
        try
        {
            return await request.ReadFormAsync(cancellation).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw ApiException.TooLarge(maxUpload);
        }
        catch (InvalidDataException e) when (e.Message.Contains("limit", StringComparison.OrdinalIgnoreCase))
        {
            throw ApiException.TooLarge(maxUpload);
        }
        catch (Exception e) when (e is InvalidDataException or IOException && !cancellation.IsCancellationRequested)
        {
            throw ApiException.BadRequest($"the multipart body is malformed: {InputErrors.OneLine(e.Message)}");
        }
    }

    /// <summary>The form's files named <paramref name="field"/>; at least one.</summary>
    public static IReadOnlyList<IFormFile> Files(IFormCollection form, string field)
    {
        var files = form.Files.GetFiles(field);
        return files.Count > 0 ? files : throw ApiException.BadRequest($"no '{field}' part: send the image or video as a multipart file field named '{field}'");
    }

    /// <summary>Decodes and preprocesses one uploaded file. Images: [3, 224, 224] (CLIP or ImageNet transform);
    /// videos: one clip [T, 3, 224, 224], or [V, T, 3, 224, 224] with <paramref name="views"/> &gt; 1.</summary>
    public static async Task<VisualInput> LoadAsync(IFormFile file, ImagePipeline pipeline, int frames, int stride, int views, CancellationToken cancellation)
    {
        string name = $"upload '{InputErrors.OneLine(Path.GetFileName(file.FileName))}'";
        if (file.Length == 0) throw new InputException(name, "the file is empty (0 bytes)");
        var head = new byte[8];
        int got;
        await using (var s = file.OpenReadStream()) got = await s.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, cancellation).ConfigureAwait(false);
        bool image = head.AsSpan(0, got).StartsWith(PngMagic) || head.AsSpan(0, got).StartsWith((byte[])[0xFF, 0xD8, 0xFF]);
        string declared = (file.ContentType ?? "").Split(';')[0].Trim().ToLowerInvariant();
        switch (declared)
        {
            case "image/png" or "image/jpeg" or "image/jpg" when !image:
                throw new InputException(name, $"is declared {declared} but is not a PNG or JPEG image (corrupt or mislabelled)");
            case "image/png" or "image/jpeg" or "image/jpg" or "application/octet-stream" or "":
                break;
            case var v when v.StartsWith("video/", StringComparison.Ordinal):
                break;
            default:
                throw ApiException.Unsupported($"{name}: content type {declared} is not supported; send a PNG or JPEG image (image/png, image/jpeg) or a video (video/*)");
        }
        if (image)
        {
            using var memory = new MemoryStream((int)file.Length);
            await file.CopyToAsync(memory, cancellation).ConfigureAwait(false);
            var (hwc, height, width) = InputErrors.Guard(name, () => ImageDecoder.DecodeRgb(memory.ToArray(), name));
            var pixels = pipeline == ImagePipeline.Clip
                ? ImageTransforms.ClipTransform(hwc, height, width)
                : ImageTransforms.ImageNetEvalTransform(hwc, height, width);
            return new VisualInput(name, pixels, IsVideo: false);
        }
        return await LoadVideoAsync(file, name, frames, stride, views, cancellation).ConfigureAwait(false);
    }

    /// <summary>ffmpeg reads files: the upload is written to a private temporary file, deleted afterwards. Errors
    /// name the upload, never the temporary path.</summary>
    private static async Task<VisualInput> LoadVideoAsync(IFormFile file, string name, int frames, int stride, int views, CancellationToken cancellation)
    {
        Directory.CreateDirectory(TempRoot);
        string path = Path.Combine(TempRoot, Guid.NewGuid().ToString("N") + ".video");
        try
        {
            await using (var target = File.Create(path)) await file.CopyToAsync(target, cancellation).ConfigureAwait(false);
            var loaded = await VisualLoader.LoadVideoAsync(path, frames, stride, views, cancellation).ConfigureAwait(false);
            return loaded with { Name = name };
        }
        catch (InputException e)
        {
            throw new InputException(name, e.Reason.Replace(path, "the upload", StringComparison.Ordinal), e);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
