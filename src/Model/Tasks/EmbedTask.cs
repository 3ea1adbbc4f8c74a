using UniPerceiverMoe.Model.Routing;

namespace UniPerceiverMoe.Model.Tasks;

/// <summary>What an embedding is for: fixes the MoE attribute, the temperature and (for pixels) the preprocessing.</summary>
public enum EmbedTask
{
    ImageClassification,
    VideoClassification,
    ImageRetrieval,
    VideoRetrieval,
    RetrievalTarget,
    ClassNameTarget,
}

/// <summary>The reference's task table (uniperceiver/datasets/moe_embeddings.py and the zero-shot configs).</summary>
public static class EmbedTasks
{
    public static MoeAttribute Attribute(EmbedTask task) => task switch
    {
        EmbedTask.RetrievalTarget => MoeAttribute.RetrievalTarget,
        EmbedTask.ClassNameTarget => MoeAttribute.ClassNameTarget,
        _ => MoeAttribute.VisualInput,
    };

    public static bool IsText(EmbedTask task) => task is EmbedTask.RetrievalTarget or EmbedTask.ClassNameTarget;

    public static bool IsVideo(EmbedTask task) => task is EmbedTask.VideoClassification or EmbedTask.VideoRetrieval;

    /// <summary>Temperature name (loss_prepare.logit_scale_{name}); MSVD retrieval configs use the caption scale.</summary>
    public static string Temperature(EmbedTask task) => task switch
    {
        EmbedTask.ImageClassification or EmbedTask.ClassNameTarget => "img_cls",
        EmbedTask.VideoClassification => "video_cls",
        EmbedTask.VideoRetrieval => "caption",
        _ => "retrieve",
    };

    /// <summary>Parses the command-line spelling, e.g. "image-classification".</summary>
    public static EmbedTask Parse(string name) => name.ToLowerInvariant() switch
    {
        "image-classification" => EmbedTask.ImageClassification,
        "video-classification" => EmbedTask.VideoClassification,
        "image-retrieval" => EmbedTask.ImageRetrieval,
        "video-retrieval" => EmbedTask.VideoRetrieval,
        "retrieval-target" => EmbedTask.RetrievalTarget,
        "class-name-target" => EmbedTask.ClassNameTarget,
        _ => throw new ArgumentException($"unknown task '{name}' (expected image-classification, video-classification, image-retrieval, video-retrieval, retrieval-target or class-name-target)."),
    };

    public static string Name(EmbedTask task) => task switch
    {
        EmbedTask.ImageClassification => "image-classification",
        EmbedTask.VideoClassification => "video-classification",
        EmbedTask.ImageRetrieval => "image-retrieval",
        EmbedTask.VideoRetrieval => "video-retrieval",
        EmbedTask.RetrievalTarget => "retrieval-target",
        _ => "class-name-target",
    };
}
