//go:build !unix

package store

func lowOnSpace(string) bool { return false }

func writable(string) bool { return true }

func memoryCap() int64    { return maxMemory }
func nearFileLimit() bool { return false }
