package filter

import (
	"fmt"
	"strings"
	"testing"
)

// TestParseLinear checks that parsing takes a number of parse rule
// invocations linear in the number of tokens, on inputs that made the
// backtracking parser quadratic: unbalanced and deeply nested
// parentheses, in expressions, arithmetic and parenthesized ids.
func TestParseLinear(t *testing.T) {
	rep := strings.Repeat
	deep := maxDepth - 10
	cases := []struct {
		name, expr string
		ok         bool
	}{
		{"100000 (", rep("(", 100000), false},
		{"100000 )", rep(")", 100000), false},
		{"9000 ( then tcp", rep("(", 9000) + "tcp", false},
		{"deep balanced expression", rep("(", deep) + "tcp" + rep(")", deep), true},
		{"deep balanced arithmetic", rep("(", deep) + "1" + rep(")", deep) + " = 1", true},
		{"deep unbalanced arithmetic", rep("(", deep) + "1" + rep(")", deep-1) + " = 1", false},
		{"deep not", rep("not ", deep) + "tcp", true},
		{"deep unary minus", rep("- ", deep) + "1 = 1", true},
		{"deep host list", "host " + rep("(10.0.0.1 or ", deep/2) + "10.0.0.2" + rep(")", deep/2), true},
		{"deep pnum", "vlan " + rep("(", deep) + "1" + rep(")", deep), true},
		{"unclosed pnum", "tcp and vlan " + rep("(", 9000), false},
		{"long chain", strings.Repeat("port 1 or ", 20000) + "port 2", true},
		{"long arithmetic", "1" + rep(" + (1", 3000) + rep(")", 3000) + " = 1", true},
		{"operators", rep("ip[1] + ", 5000) + "1 = 1", true},
	}
	for _, c := range cases {
		n, steps, err := parseCounting(c.expr)
		if (err == nil) != c.ok {
			t.Errorf("%s: error %v", c.name, err)
			continue
		}
		if c.ok && n == nil {
			t.Errorf("%s: no tree", c.name)
		}
		tokens := len(lex(c.expr))
		if steps > 20*tokens {
			t.Errorf("%s: %d parse steps for %d tokens", c.name, steps, tokens)
		}
		t.Logf("%s: %d tokens, %d steps", c.name, tokens, steps)
	}
}

// TestParseDepthLimit checks the nesting limit: libpcap's parser fails
// beyond it ("memory exhausted"), and so does parse, with the column of
// the token that nests too deeply.
func TestParseDepthLimit(t *testing.T) {
	rep := strings.Repeat
	for _, c := range []struct{ expr, want string }{
		{rep("(", maxDepth) + "tcp" + rep(")", maxDepth), ""},
		{rep("not ", maxDepth) + "tcp", ""},
		{rep("(", maxDepth+1) + "tcp" + rep(")", maxDepth+1),
			fmt.Sprintf("filter: expression nested too deeply at column %d (more than %d levels)", maxDepth+1, maxDepth)},
		{rep("(", 100000),
			fmt.Sprintf("filter: expression nested too deeply at column %d (more than %d levels)", maxDepth+1, maxDepth)},
		{"tcp and " + rep("not ", maxDepth+1) + "udp",
			fmt.Sprintf("filter: expression nested too deeply at column %d (more than %d levels)", 9+4*maxDepth, maxDepth)},
	} {
		_, err := parse(c.expr)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("%.20q...: error %q, want %q", c.expr, got, c.want)
		}
	}
}

// TestSyntaxErrorColumns checks where syntax errors are reported: at
// the first token the grammar cannot take (libpcap's LALR parser stops
// there), naming an unclosed parenthesis at the end of the expression
// and a parenthesis that closes nothing.
func TestSyntaxErrorColumns(t *testing.T) {
	for _, c := range []struct{ expr, want string }{
		{"(tcp", `filter: syntax error at column 5 (unexpected end of expression; "(" at column 1 is not closed)`},
		{"((tcp)", `filter: syntax error at column 7 (unexpected end of expression; "(" at column 1 is not closed)`},
		{"(tcp or (udp)", `filter: syntax error at column 14 (unexpected end of expression; "(" at column 1 is not closed)`},
		{"tcp and (port 80", `filter: syntax error at column 17 (unexpected end of expression; "(" at column 9 is not closed)`},
		{"(((", `filter: syntax error at column 4 (unexpected end of expression; "(" at column 3 is not closed)`},
		{"(1 = 1", `filter: syntax error at column 7 (unexpected end of expression; "(" at column 1 is not closed)`},
		{"host (10.0.0.1 or 10.0.0.2", `filter: syntax error at column 27 (unexpected end of expression; "(" at column 6 is not closed)`},
		{"ip[1", `filter: syntax error at column 5 (unexpected end of expression; "[" at column 3 is not closed)`},
		{"tcp)", `filter: syntax error at column 4 near ")" (no "(" is open)`},
		{")))", `filter: syntax error at column 1 near ")" (no "(" is open)`},
		{"(tcp))", `filter: syntax error at column 6 near ")" (no "(" is open)`},
		{"tcp and ((udp)))", `filter: syntax error at column 16 near ")" (no "(" is open)`},
		{"(ip[1) = 1", `filter: syntax error at column 6 near ")" ("[" at column 4 is not closed)`},
		{"ip[(1] = 1", `filter: syntax error at column 6 near "]" ("(" at column 4 is not closed)`},
		{"( )", `filter: syntax error at column 3 near ")"`},
		{"(1 = ) and tcp", `filter: syntax error at column 6 near ")"`},
		{"ip[1 = 1", `filter: syntax error at column 6 near "="`},
		{"tcp port", "filter: syntax error at column 9 (unexpected end of expression)"},
		{"(tcp) and (udp or", `filter: syntax error at column 18 (unexpected end of expression; "(" at column 11 is not closed)`},
	} {
		_, err := Compile(c.expr, Options{LinkType: LinkTypeEthernet})
		if err == nil || err.Error() != c.want {
			t.Errorf("Compile(%q) error = %v, want %q", c.expr, err, c.want)
		}
	}
}
