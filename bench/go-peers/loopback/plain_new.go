//go:build gofuse_passthrough

package main

import "github.com/hanwen/go-fuse/v2/fs"

// loopbackFileOps is every interface go-fuse's loopback file implements but FilePassthroughFder (go-fuse 2.9).
type loopbackFileOps interface {
	fs.FileReleaser
	fs.FileGetattrer
	fs.FileStatxer
	fs.FileReader
	fs.FileWriter
	fs.FileGetlker
	fs.FileSetlker
	fs.FileSetlkwer
	fs.FileLseeker
	fs.FileFlusher
	fs.FileFsyncer
	fs.FileSetattrer
	fs.FileAllocater
	fs.FileIoctler
}

type plainLoopbackFile struct{ loopbackFileOps }

func plainFile(fh fs.FileHandle) fs.FileHandle {
	if f, ok := fh.(loopbackFileOps); ok {
		return &plainLoopbackFile{f}
	}
	return fh
}
