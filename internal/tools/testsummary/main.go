// Command testsummary reads `go test -json` on standard input and prints
// what a developer needs from it: each package's result line as go test
// prints it, the output of every failed test, and at the end one line
// with the counts, then what was skipped and why. It exits non-zero when
// a test or a package failed (or when the input has no test at all).
//
//	go test -json ./... | go run ./internal/tools/testsummary
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one line of go test -json (see go doc test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

type key struct{ pkg, test string }

func main() {
	os.Exit(summarize(os.Stdin, os.Stdout))
}

func summarize(in io.Reader, out io.Writer) int {
	var (
		output              = map[key][]string{}
		passed, failed      int
		skipped             []string
		pkgFailed, buildErr bool
	)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			// Build errors and other lines go test prints as they are.
			fmt.Fprintln(out, string(line))
			buildErr = buildErr || strings.Contains(string(line), "build failed") || strings.HasPrefix(string(line), "#")
			continue
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "output":
			output[k] = append(output[k], e.Output)
		case "pass":
			if e.Test == "" {
				fmt.Fprintf(out, "ok  \t%s\t%.3fs\n", e.Package, e.Elapsed)
			} else if !strings.Contains(e.Test, "/") {
				passed++
			}
			delete(output, k)
		case "fail":
			if e.Test == "" {
				pkgFailed = true
				for _, l := range output[k] {
					fmt.Fprint(out, l)
				}
				fmt.Fprintf(out, "FAIL\t%s\t%.3fs\n", e.Package, e.Elapsed)
			} else {
				if !strings.Contains(e.Test, "/") {
					failed++
				}
				for _, l := range output[k] {
					fmt.Fprint(out, l)
				}
			}
			delete(output, k)
		case "build-output":
			fmt.Fprint(out, e.Output)
		case "build-fail":
			buildErr = true
		case "skip":
			if e.Test != "" && !strings.Contains(e.Test, "/") {
				skipped = append(skipped, fmt.Sprintf("%s %s: %s", short(e.Package), e.Test, reason(output[k])))
			}
			delete(output, k)
		}
	}
	fmt.Fprintf(out, "\n%d passed, %d failed, %d skipped\n", passed, failed, len(skipped))
	if len(skipped) > 0 {
		sort.Strings(skipped)
		fmt.Fprintf(out, "skipped (%d): %s\n", len(skipped), strings.Join(skipped, "; "))
	}
	if failed > 0 || pkgFailed || buildErr || passed == 0 {
		return 1
	}
	return 0
}

func short(pkg string) string {
	if i := strings.Index(pkg, "/internal/"); i >= 0 {
		return pkg[i+1:]
	}
	return pkg
}

// reason is the skip message: the test's last line of output that is
// not the "--- SKIP" line itself.
func reason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "--- SKIP") || strings.HasPrefix(l, "=== ") {
			continue
		}
		if j := strings.Index(l, ": "); j >= 0 && strings.Contains(l[:j], ".go:") {
			l = l[j+2:]
		}
		return l
	}
	return "no reason given"
}
