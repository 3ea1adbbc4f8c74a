using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Serialization;
using UniPerceiverMoe.Model.Routing;
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
        ApplyLinear apply => ToLocal(apply, device),
        ProbeHop probe => new Local.Echo(TensorPayloads.ToTensor(probe.Input, device)),
        _ => throw new InvalidDataException($"{request.GetType().Name} is not a request an expert group computes."),
    };

    private static Local.ApplyLinear ToLocal(ApplyLinear request, Device device)
    {
        Tensor? tailParams = null;
        try
        {
            GroupFollowUp? then = request.Then;
            if (request.IsWholeLayer)
            {
                tailParams = TensorPayloads.ToTensor(request.TailParams!, device);
                then = new ThenWholeLayer(request.LayerSegments(), new WholeLayer(tailParams, request.TailEps, request.LayerHeads), request.SequenceLength);
            }
            else if (request.IsLayerTail)
            {
                tailParams = TensorPayloads.ToTensor(request.TailParams!, device);
                then = new ThenLayerTail(new Route(request.ThenExperts!, request.ThenWeights!), new Route(request.TailExperts2!, request.TailWeights2!),
                    new LayerTail(tailParams, request.TailEps));
            }
            return new Local.ApplyLinear(request.Site, request.SubRoute, TensorPayloads.ToTensor(request.Input, device), then);
        }
        catch
        {
            tailParams?.Dispose();
            throw;
        }
    }

    /// <summary>Disposes the tensors of a message that was never delivered.</summary>
    public static void Release(Local.IExpertGroupMessage message)
    {
        switch (message)
        {
            case Local.ApplyLinear apply:
                apply.Input.Dispose();
                apply.Then?.Constants?.Dispose();
                break;
            case Local.Echo echo:
                echo.Input.Dispose();
                break;
        }
    }

    /// <summary>What a request is, for error messages ("layer 3 Linear1" or "probe").</summary>
    public static string Describe(IGroupEnvelope request) => request switch
    {
        ApplyLinear apply => apply.Site.ToString(),
        _ => "probe",
    };
}
