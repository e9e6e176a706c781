using FuseActors.Engine.Device;

namespace FuseActors.Engine.Tests;

/// <summary>Deciding how to mount: the CAP_SYS_ADMIN check and the option string fusermount3 gets.</summary>
public sealed class MountingTests
{
    private const string Status = "Name:\tbash\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t{0}\nCapBnd:\t000001ffffffffff\n";

    [Theory]
    [InlineData("000001fffeffffff", true)]   // root in a container
    [InlineData("0000000000200000", true)]   // CAP_SYS_ADMIN alone (bit 21)
    [InlineData("0000000000000000", false)]  // an ordinary user
    [InlineData("000001ffffdfffff", false)]  // everything but CAP_SYS_ADMIN (root with it dropped)
    public void CAP_SYS_ADMIN_is_bit_21_of_CapEff(string capEff, bool expected) =>
        Assert.Equal(expected, FuseMounter.HasCapability(string.Format(Status, capEff), 21));

    [Fact]
    public void The_capget_answer_agrees_with_proc_self_status() =>
        Assert.Equal(FuseMounter.HasCapability(File.ReadAllText("/proc/self/status"), 21), FuseMounter.CanMountDirectly());

    [Fact]
    public void Fusermount_gets_user_level_options_with_commas_in_fsname_escaped()
    {
        var o = new MountOptions { Source = @"my,fs\1", Subtype = "memfs", ReadOnly = true, MaxRead = 65536, AutoUnmount = true };
        Assert.Equal(@"fsname=my\,fs\\1,subtype=memfs,nosuid,nodev,ro,default_permissions,allow_other,max_read=65536,auto_unmount",
            o.ToFusermountOptions(allowOther: true));
        Assert.Equal("fsname=fuseactors,subtype=fuseactors,nosuid,nodev", new MountOptions { DefaultPermissions = false }.ToFusermountOptions(allowOther: false));
    }

    [Theory]
    [InlineData("auto", MountHelper.Auto)]
    [InlineData("Always", MountHelper.Always)]
    [InlineData(" never ", MountHelper.Never)]
    public void Mount_helper_setting_parses(string text, MountHelper expected) => Assert.Equal(expected, MountHelperParser.Parse(text));

    [Fact]
    public void A_bad_mount_helper_setting_is_an_error() => Assert.Throws<FormatException>(() => MountHelperParser.Parse("sometimes"));

    [Fact]
    public void User_allow_other_is_read_from_fuse_conf_lines_not_comments()
    {
        var conf = Path.GetTempFileName();
        try
        {
            File.WriteAllText(conf, "# user_allow_other\n#user_allow_other\nmount_max = 1000\n");
            Assert.False(Fusermount.UserAllowOther(conf));
            File.WriteAllText(conf, "mount_max = 1000\n  user_allow_other  \n");
            Assert.True(Fusermount.UserAllowOther(conf));
            Assert.False(Fusermount.UserAllowOther(conf + ".missing"));
        }
        finally { File.Delete(conf); }
    }
}
