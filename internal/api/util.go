package api

import (
	"strconv"
	"time"
)

func fmtNS(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

func fmtDuration(ns int64) string { return time.Duration(ns).String() }

func itoa(n int) string { return strconv.Itoa(n) }
