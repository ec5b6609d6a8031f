namespace Ril.Hub;

/// <summary>
/// How far the download of one file of a Hub model has come: reported when the file starts, as bytes arrive, and once
/// more with <see cref="Completed"/> set. <see cref="TotalBytes"/> is the whole file, <see cref="ReceivedBytes"/> counts
/// what a resumed download already had.
/// </summary>
public readonly record struct HubDownloadProgress(
    HubModelId Model, string File, int FileNumber, int FileCount, long ReceivedBytes, long TotalBytes, bool Completed);
