// Command loopback mounts go-fuse's loopback filesystem (fs.NewLoopbackRoot) for bench/fsbench.sh.
// Settings follow go-fuse's example/loopback: 1 s entry and attribute timeouts, NullPermissions,
// default_permissions, everything else at go-fuse's defaults, but for kernel passthrough: go-fuse 2.7+
// hands every opened file's I/O to the kernel (FUSE passthrough) when it runs as root; here that is
// off unless -kernel-passthrough is given (plain.go), so that the default compares with our plain
// passthrough. DirectMount because this machine has no fusermount. It prints one line when mounted
// and unmounts on SIGINT/SIGTERM.
//
// usage: loopback [-allow-other] [-kernel-passthrough] [-maxwrite N] [-debug] MOUNTPOINT SOURCE
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

func main() {
	debug := flag.Bool("debug", false, "log every request")
	other := flag.Bool("allow-other", true, "mount with allow_other")
	maxWrite := flag.Int("maxwrite", 0, "MaxWrite in bytes (0: go-fuse default)")
	kpt := flag.Bool("kernel-passthrough", false, "let go-fuse hand opened files' I/O to the kernel (go-fuse 2.7+, as root)")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: loopback [-allow-other] [-kernel-passthrough] [-maxwrite N] [-debug] MOUNTPOINT SOURCE")
		os.Exit(2)
	}
	mnt, src := flag.Arg(0), flag.Arg(1)

	var root fs.InodeEmbedder
	var err error
	if *kpt {
		root, err = fs.NewLoopbackRoot(src)
	} else {
		root, err = newPlainLoopbackRoot(src)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "loopback: %v\n", err)
		os.Exit(1)
	}
	sec := time.Second
	opts := &fs.Options{
		AttrTimeout:     &sec,
		EntryTimeout:    &sec,
		NullPermissions: true,
		MountOptions: fuse.MountOptions{
			AllowOther:  *other,
			Debug:       *debug,
			DirectMount: true,
			FsName:      src,
			Name:        "loopback",
			MaxWrite:    *maxWrite,
			Options:     []string{"default_permissions"},
		},
	}
	server, err := fs.Mount(mnt, root, opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loopback: mount: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("gofuse-loopback: %s mounted at %s\n", src, mnt)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		server.Unmount()
	}()
	server.Wait()
}
