using Ril.Data;
using Ril.Hub;
using Ril.Tests.Data;

namespace Ril.Tests.Hub;

/// <summary>Dataset ids as EasyR1 writes them, the files of a split in the Hub's layouts, and local Parquet folders as datasets.</summary>
public class HubDatasetIdTests
{
    [Theory]
    [InlineData("hiyouga/geometry3k@train", "hiyouga/geometry3k", null, "train", "main")]
    [InlineData("hiyouga/geometry3k", "hiyouga/geometry3k", null, "train", "main")]
    [InlineData("lmms-lab/MathVista:default@testmini", "lmms-lab/MathVista", "default", "testmini", "main")]
    [InlineData("hiyouga/math12k@test#v1.0", "hiyouga/math12k", null, "test", "v1.0")]
    public void Ids_read_as_written(string text, string repo, string? config, string split, string revision)
    {
        Assert.True(HubDatasetId.TryParse(text, out var id));
        Assert.Equal(new HubDatasetId(repo, config, split, revision), id);
        Assert.Equal($"datasets--{repo.Replace("/", "--")}", id.Repository.CacheFolderName);
        Assert.Equal(HubRepoKind.Dataset, id.Repository.Kind);
    }

    [Theory]
    [InlineData("train.parquet")]
    [InlineData("data/train.parquet")]
    [InlineData("hiyouga/geometry3k@")]
    [InlineData("hiyouga/geometry3k@a/b")]
    [InlineData("hiyouga/geometry3k:@train")]
    [InlineData("../x@train")]
    public void Paths_and_malformed_ids_are_not_ids(string text) => Assert.False(HubDatasetId.TryParse(text, out _));

    [Fact]
    public void A_split_s_files_are_found_in_the_hub_s_layouts()
    {
        string[] files =
        [
            "README.md", "data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet", "data/test-00000-of-00001.parquet",
            "data/validation-00000-of-00001.parquet", "extra/train/0000.parquet", "other/geometry3k-test.parquet", "train.jsonl",
        ];
        Assert.Equal(["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet", "extra/train/0000.parquet"], HubDatasetFiles.Select(files, null, "train"));
        Assert.Equal(["extra/train/0000.parquet"], HubDatasetFiles.Select(files, "extra", "train"));
        Assert.Equal(["data/test-00000-of-00001.parquet", "other/geometry3k-test.parquet"], HubDatasetFiles.Select(files, null, "test"));
        Assert.Empty(HubDatasetFiles.Select(files, null, "val"));
        Assert.Equal(["data", "extra"], HubDatasetFiles.TopFolders(HubDatasetFiles.Select(files, null, "train")));   // ambiguous without a config
    }

    [Fact]
    public void A_folder_of_parquet_files_is_a_dataset_named_by_the_folder()
    {
        var folder = Path.Combine(RepoPaths.Fixtures, "parquet", "geometry3k", "data");
        var rows = DatasetSource.Load(folder, DatasetKeys.With(question: "problem"));
        Assert.Equal(9, rows.Count);   // test (3 rows) then train (6), in name order
        Assert.Equal(["test-00000-of-00001/0", "train-00000-of-00001/5"], [rows[0].Id, rows[^1].Id]);
        Assert.Equal("data", DatasetSource.SplitName(folder));
        Assert.Equal("test", DatasetSource.SplitName("hiyouga/geometry3k@test"));
        var error = Assert.Throws<FileNotFoundException>(() => DatasetSource.Files("no/such.jsonl/file"));
        Assert.Contains("not a Hub dataset id", error.Message);
    }
}
