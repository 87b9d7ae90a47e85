//go:build !unix

package store

func lowOnSpace(string) bool { return false }
