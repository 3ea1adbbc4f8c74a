using System.Net.Http.Headers;

namespace UniPerceiverMoe.Host.Tests.Server;

/// <summary>Builds multipart uploads for the specs.</summary>
public static class Multipart
{
    public static MultipartFormDataContent Form(params (string Name, string Value)[] fields)
    {
        var form = new MultipartFormDataContent();
        foreach (var (name, value) in fields) form.Add(new StringContent(value), name);
        return form;
    }

    public static MultipartFormDataContent WithFile(this MultipartFormDataContent form, byte[] bytes, string fileName, string? contentType)
    {
        var part = new ByteArrayContent(bytes);
        if (contentType is not null) part.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        form.Add(part, "file", fileName);
        return form;
    }

    public static MultipartFormDataContent WithFile(this MultipartFormDataContent form, string path, string contentType) =>
        form.WithFile(File.ReadAllBytes(path), Path.GetFileName(path), contentType);
}
