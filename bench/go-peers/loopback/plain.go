package main

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// newPlainLoopbackRoot is fs.NewLoopbackRoot whose files never use kernel passthrough: every node is a
// plainNode, whose Open and Create hand go-fuse a file without PassthroughFd (plainFile), so every read and
// write goes through the daemon, as on our plain passthrough target. go-fuse before 2.7 has no kernel
// passthrough, and there plainFile is the loopback file itself (plain_old.go).
func newPlainLoopbackRoot(src string) (fs.InodeEmbedder, error) {
	r, err := fs.NewLoopbackRoot(src)
	if err != nil {
		return nil, err
	}
	ln := r.(*fs.LoopbackNode)
	ln.RootData.NewNode = func(rd *fs.LoopbackRoot, parent *fs.Inode, name string, st *syscall.Stat_t) fs.InodeEmbedder {
		return &plainNode{&fs.LoopbackNode{RootData: rd}}
	}
	return &plainNode{ln}, nil
}

type plainNode struct{ *fs.LoopbackNode }

func (n *plainNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fl, errno := n.LoopbackNode.Open(ctx, flags)
	return plainFile(fh), fl, errno
}

func (n *plainNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	in, fh, fl, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	return in, plainFile(fh), fl, errno
}
