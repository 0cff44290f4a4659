package policy

import "github.com/netpolicy/netpolicy/internal/tomldoc"

// Temporary aliases while callers move to package tomldoc.
type (
	Pos         = tomldoc.Pos
	Span        = tomldoc.Span
	ValueKind   = tomldoc.ValueKind
	Value       = tomldoc.Value
	ArrayItem   = tomldoc.ArrayItem
	TableForm   = tomldoc.TableForm
	Table       = tomldoc.Table
	Entry       = tomldoc.Entry
	ExprKind    = tomldoc.ExprKind
	Expr        = tomldoc.Expr
	SyntaxError = tomldoc.SyntaxError
	Doc         = tomldoc.Doc
)

const (
	KindString     = tomldoc.KindString
	KindBool       = tomldoc.KindBool
	KindInteger    = tomldoc.KindInteger
	KindFloat      = tomldoc.KindFloat
	KindDateTime   = tomldoc.KindDateTime
	KindArray      = tomldoc.KindArray
	KindTable      = tomldoc.KindTable
	FormRoot       = tomldoc.FormRoot
	FormHeader     = tomldoc.FormHeader
	FormImplicit   = tomldoc.FormImplicit
	FormDotted     = tomldoc.FormDotted
	FormInline     = tomldoc.FormInline
	FormArrayElem  = tomldoc.FormArrayElem
	ExprKeyValue   = tomldoc.ExprKeyValue
	ExprTable      = tomldoc.ExprTable
	ExprArrayTable = tomldoc.ExprArrayTable
	ExprComment    = tomldoc.ExprComment
)

var (
	ParseDoc    = tomldoc.ParseDoc
	QuoteKey    = tomldoc.QuoteKey
	QuoteString = tomldoc.QuoteString
	JoinKey     = tomldoc.JoinKey
)
