// Command memfs mounts go-fuse's in-memory node filesystem (nodefs.NewMemNodeFSRoot), wired the way
// go-fuse's example/memfs did: a FileSystemConnector with default options (1 s entry and attribute
// timeouts) served by fuse.NewServer. The tree lives in memory; file contents go to backing files
// named PREFIX<n> (put PREFIX on the same storage as the other targets). DirectMount because this
// machine has no fusermount. It prints one line when mounted and unmounts on SIGINT/SIGTERM.
// default_permissions is on by default (go-fuse's example does not set it): our memfs mounts with it,
// and with it every unlink costs the kernel a GETATTR of the directory, so the comparison needs the
// same setting on both sides (-default-permissions=false for the example's own behaviour).
//
// usage: memfs [-allow-other] [-default-permissions] [-maxwrite N] [-debug] MOUNTPOINT PREFIX
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/hanwen/go-fuse/v2/fuse/nodefs"
)

func main() {
	debug := flag.Bool("debug", false, "log every request")
	other := flag.Bool("allow-other", true, "mount with allow_other")
	perms := flag.Bool("default-permissions", true, "mount with default_permissions (the kernel checks modes)")
	maxWrite := flag.Int("maxwrite", 0, "MaxWrite in bytes (0: go-fuse default)")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: memfs [-allow-other] [-default-permissions] [-maxwrite N] [-debug] MOUNTPOINT PREFIX")
		os.Exit(2)
	}
	mnt, prefix := flag.Arg(0), flag.Arg(1)

	root := nodefs.NewMemNodeFSRoot(prefix)
	conn := nodefs.NewFileSystemConnector(root, nil)
	var options []string
	if *perms {
		options = append(options, "default_permissions")
	}
	server, err := fuse.NewServer(conn.RawFS(), mnt, &fuse.MountOptions{
		AllowOther:  *other,
		Debug:       *debug,
		DirectMount: true,
		FsName:      "memfs",
		Name:        "memfs",
		MaxWrite:    *maxWrite,
		Options:     options,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "memfs: mount: %v\n", err)
		os.Exit(1)
	}
	go server.Serve()
	if err := server.WaitMount(); err != nil {
		fmt.Fprintf(os.Stderr, "memfs: mount: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("gofuse-memfs: mounted at %s (backing files %s*)\n", mnt, prefix)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		server.Unmount()
	}()
	server.Wait()
}
