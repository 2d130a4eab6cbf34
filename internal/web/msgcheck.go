package web

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
)

// msgCall is one call of T in a template.
type msgCall struct {
	line int
	key  string   // "" when the key is not a string literal
	args []string // the argument names passed, "" for one that is not a literal
}

// templateCalls lists the calls of .T and $.T in a template, and the key
// prefixes of keys built with printf ("enrol." for printf "enrol.%s").
func templateCalls(name string, body []byte) (calls []msgCall, prefixes []string, err error) {
	tmpl, err := template.New(name).Parse(string(body))
	if err != nil {
		return nil, nil, err
	}
	for _, tt := range tmpl.Templates() {
		if tt.Tree == nil {
			continue
		}
		walkTemplate(tt.Root, func(cmd *parse.CommandNode) {
			if len(cmd.Args) < 2 || !isTemplateT(cmd.Args[0]) {
				return
			}
			c := msgCall{line: 1 + strings.Count(string(body[:cmd.Position()]), "\n")}
			switch k := cmd.Args[1].(type) {
			case *parse.StringNode:
				c.key = k.Text
			case *parse.PipeNode:
				if p := printfPrefix(k); p != "" {
					prefixes = append(prefixes, p)
				}
			}
			for i := 2; i < len(cmd.Args); i += 2 {
				s, _ := cmd.Args[i].(*parse.StringNode)
				if s == nil {
					c.args = append(c.args, "")
					continue
				}
				c.args = append(c.args, s.Text)
			}
			calls = append(calls, c)
		})
	}
	return calls, prefixes, nil
}

// checkTemplate reports each call of T in a template that names no
// message or passes other arguments than its message takes, so that an
// override template written for another version fails at start-up, with
// its line, instead of showing "%!{name}(MISSING)" to users.
func (c *Catalog) checkTemplate(name string, body []byte) []string {
	calls, _, err := templateCalls(name, body)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", name, err)}
	}
	var problems []string
	for _, call := range calls {
		where := name + ":" + strconv.Itoa(call.line)
		if call.key == "" {
			if len(call.args) > 0 {
				problems = append(problems, where+": a message chosen at run time cannot take arguments")
			}
			continue
		}
		if !c.Has(call.key) {
			problems = append(problems, fmt.Sprintf("%s: no message %q", where, call.key))
			continue
		}
		got, want := slices.Clone(call.args), Placeholders(c.msgs["en"][call.key])
		slices.Sort(got)
		if !slices.Equal(got, want) {
			problems = append(problems, fmt.Sprintf("%s: %q takes the arguments {%s} as name, value pairs, e.g. {{$.T %q %s}}",
				where, call.key, strings.Join(want, "}, {"), call.key, examplePairs(want)))
		}
	}
	return problems
}

func examplePairs(names []string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%q .%s", n, strings.ToUpper(n[:1])+n[1:])
	}
	return b.String()
}

func isTemplateT(n parse.Node) bool {
	switch f := n.(type) {
	case *parse.FieldNode:
		return slices.Equal(f.Ident, []string{"T"})
	case *parse.VariableNode:
		return slices.Equal(f.Ident, []string{"$", "T"})
	}
	return false
}

// printfPrefix returns "enrol." for (printf "enrol.%s" .Method).
func printfPrefix(p *parse.PipeNode) string {
	if len(p.Cmds) != 1 || len(p.Cmds[0].Args) < 2 {
		return ""
	}
	fn, ok := p.Cmds[0].Args[0].(*parse.IdentifierNode)
	format, ok2 := p.Cmds[0].Args[1].(*parse.StringNode)
	if !ok || !ok2 || fn.Ident != "printf" {
		return ""
	}
	prefix, _, _ := strings.Cut(format.Text, "%")
	return prefix
}

func walkTemplate(n parse.Node, visit func(*parse.CommandNode)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walkTemplate(c, visit)
		}
	case *parse.ActionNode:
		walkTemplate(n.Pipe, visit)
	case *parse.IfNode:
		walkBranch(&n.BranchNode, visit)
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, visit)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, visit)
	case *parse.TemplateNode:
		walkTemplate(n.Pipe, visit)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			visit(c)
			for _, a := range c.Args {
				walkTemplate(a, visit)
			}
		}
	}
}

func walkBranch(b *parse.BranchNode, visit func(*parse.CommandNode)) {
	walkTemplate(b.Pipe, visit)
	walkTemplate(b.List, visit)
	walkTemplate(b.ElseList, visit)
}
