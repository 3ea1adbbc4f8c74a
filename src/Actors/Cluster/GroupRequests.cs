using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Serialization;
using static TorchSharp.torch;
using static UniPerceiverMoe.Actors.Cluster.ExpertShardProtocol;
using Local = UniPerceiverMoe.Actors.ExpertGroups.ExpertGroupProtocol;

namespace UniPerceiverMoe.Actors.Cluster;

/// <summary>
/// Wire requests ⇄ the in-process messages of an <see cref="ExpertGroupActor"/>, for both ways a request reaches a
/// group on an expert node: through its shard entity (Akka) and straight from the data plane.
/// </summary>
public static class GroupRequests
{
    /// <summary>
    /// The group's message for a validated wire request, with its tensors on <paramref name="device"/>; the group owns
    /// them (it releases them when it has answered), so a caller that cannot deliver the message disposes it with
    /// <see cref="Release"/>.
    /// </summary>
    /// <exception cref="InvalidDataException">The request is not one a group computes.</exception>
    public static Local.IExpertGroupMessage ToLocal(IGroupEnvelope request, Device device) => request switch
    {
        IComputeRequest compute => ToLocal(compute, device),
        ProbeHop probe => new Local.Echo(TensorPayloads.ToTensor(probe.Input, device)),
        _ => throw new InvalidDataException($"{request.GetType().Name} is not a request an expert group computes."),
    };

    private static Local.Compute ToLocal(IComputeRequest request, Device device)
    {
        var model = request.ToRequest(device);
        try
        {
            return new Local.Compute(model, TensorPayloads.ToTensor(request.Input, device));
        }
        catch
        {
            model.Constants?.Dispose();
            throw;
        }
    }

    /// <summary>Disposes the tensors of a message that was never delivered.</summary>
    public static void Release(Local.IExpertGroupMessage message)
    {
        switch (message)
        {
            case Local.Compute compute:
                compute.Input.Dispose();
                compute.Request.Constants?.Dispose();
                break;
            case Local.Echo echo:
                echo.Input.Dispose();
                break;
        }
    }

    /// <summary>What a request is, for error messages ("layer 3 Linear1" or "probe").</summary>
    public static string Describe(IGroupEnvelope request) => request switch
    {
        IComputeRequest compute => compute.Site.ToString(),
        _ => "probe",
    };
}
