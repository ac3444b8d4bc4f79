/* parser.y -- the parser (prefix kp_): tokens to declarations (ast.h).
 *
 * Pure parser over the reentrant scanner (lexer.l); every node comes from
 * the compilation's arena, so nothing needs a destructor.  A rule's clauses
 * are read as a flat sequence of items and assembled by build_rule(), which
 * is where the two-token-lookahead cases (`via sms then email after 24h
 * after ticket_closed`, `every day at 09:00` vs `at mon-fri 09:00-16:00`)
 * are decided, with precise messages.  On a syntax error the parser reports
 * the offending token and resumes at the next declaration, so every error
 * of a file is reported.
 */
%define api.pure full
%define api.location.type {KLoc}
%define parse.error custom
%define parse.lac full
%locations
%expect 0
%param {yyscan_t scanner}
%parse-param {KParse *ps}

%code requires {
#include "lang/parse_impl.h"
#ifndef YY_TYPEDEF_YY_SCANNER_T
#define YY_TYPEDEF_YY_SCANNER_T
typedef void *yyscan_t;
#endif
#define YYLLOC_DEFAULT(Cur, Rhs, N)                                   \
    do {                                                              \
        if (N) { (Cur).lo = YYRHSLOC(Rhs, 1).lo; (Cur).hi = YYRHSLOC(Rhs, N).hi; } \
        else { (Cur).lo = (Cur).hi = YYRHSLOC(Rhs, 0).hi; }           \
    } while (0)
}

%union {
    char *s;
    struct { char *s; size_t n; bool bad; } str;
    double num;
    int64_t dur;
    int ival;
    KExpr *e;
    KExprNode *el;
    KNameNode *names;
    KAttrNode *attrs;
    KItem *item;
    KDecl *d;
    KVPart *vp;
}

%code {
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kx_yylex(YYSTYPE *lval, YYLTYPE *lloc, yyscan_t scanner);

static int kp_lex(YYSTYPE *lval, YYLTYPE *lloc, yyscan_t scanner, KParse *ps);
#define yylex(lval, lloc, scanner) kp_lex(lval, lloc, scanner, ps)

static KExpr *mk(KParse *ps, KExprKind kind, KLoc loc);
static KExpr *mk_bin(KParse *ps, KOp op, KExpr *a, KExpr *b, KLoc loc);
static void deeper(KParse *ps, KExpr *e, KExpr **child);
static KExpr *mk_un(KParse *ps, KOp op, KExpr *a, KLoc loc);
static KExpr *mk_call(KParse *ps, char *name, KExprNode *args, KExpr *where, KLoc loc);
static KExpr *mk_in(KParse *ps, KExpr *x, KExprNode *items, KLoc loc);
static KExpr *mk_within(KParse *ps, KExpr *x, KExpr *d, KLoc loc);
static inline KLoc loc_to(KLoc a, KLoc b) { return (KLoc){ a.lo, b.hi }; }
static KDecl *mk_decl(KParse *ps, KDeclKind kind, KLoc loc);
static KItem *mk_item(KParse *ps, KItemKind kind, KLoc loc, KLoc kw);
static KName mk_name(KParse *ps, char *s, KLoc loc);
static KNameList name_list(KParse *ps, KNameNode *n);
static KDecl *build_rule(KParse *ps, KLoc loc, KLoc head_kw, bool task, KName target, KItem *items);
static uint8_t day_bits(int tok_kind, int v);
static bool int_in(KParse *ps, double v, KLoc loc, double lo, double hi, const char *what);
static void append_decl(KParse *ps, KDecl *d);
static void indented_decl(KParse *ps, KLoc loc);
static KExprNode *rev_exprs(KExprNode *l);
static KAttrNode *rev_attrs(KAttrNode *l);
static void yyerror(YYLTYPE *loc, yyscan_t scanner, KParse *ps, const char *msg);
}

%token <s> NAME "name"
%token <str> STRING "string"
%token <num> NUMBER "number"
%token <dur> DURATION "duration"
%token <ival> CLOCK "clock time" WEEKDAY "weekday" DAYRANGE "weekday range"
%token POLICY "policy" IMPORT "import" TIMEZONE "timezone" EVENT "event" SURVEY "survey"
%token CHANNEL "channel" LET "let" CAP "cap" PER "per" ON "on" QUIET "quiet"
%token REQUIRE "require" CONSENT "consent" RULE "rule" ASK "ask" TASK "task" VIA "via"
%token THEN "then" AFTER "after" WHERE "where" EVERY "every" AT "at" IF "if" UNLESS "unless"
%token PRIORITY "priority" VARIANT "variant" RETRIGGER "retrigger" AND "and" OR "or"
%token NOT "not" NO "no" IN "in" WITHIN "within" TRUE "true" FALSE "false"
%token BEST_TIME "best_time" EQ "==" NE "!=" LE "<=" GE ">="
%token DECL_START "a declaration in column 1"

%type <e> expr unary postfix primary in_item
%type <el> args in_items
%type <s> ident
%type <names> chanlist on_opt
%type <attrs> attrs attrs_opt
%type <item> items item
%type <d> decl rule_body
%type <ival> days day
%type <vp> vparts vbody_opt vpart
%type <dur> plus_opt
%type <e> where_opt

/* A rule's clauses run until a token that cannot continue it: a `cap`
 * after a rule's items, but not in column 1, is the rule's clause. */
%precedence RULE_END
%precedence CAP

%left OR
%left AND
%precedence NOT
%nonassoc EQ NE '<' LE '>' GE IN
%left '+' '-'
%left '*' '/'
%precedence UMINUS

%initial-action { @$.lo = @$.hi = 0; }

%%

file:
    decls
  ;

/* kp_lex puts DECL_START before a token in column 1 (the layout rule, SPEC
 * 1.3): a rule's items run until the next one, the end of the file, or a
 * token that cannot continue the rule (`ask` on the same line); a `cap`
 * that is not in column 1 goes on with the rule. */
decls:
    %empty
  | decls DECL_START decl   { append_decl(ps, $3); ps->recovering = false; }
  | decls decl              { indented_decl(ps, @2); append_decl(ps, $2); }
  | decls error             { ps->recovering = true; }
  ;

decl:
    POLICY STRING           { $$ = mk_decl(ps, KDECL_POLICY, @$); $$->policy.str = $2.s; $$->policy.str_span = kp_span(ps, @2); }
  | IMPORT STRING           { $$ = mk_decl(ps, KDECL_IMPORT, @$); $$->import.str = $2.s; $$->import.str_span = kp_span(ps, @2); }
  | TIMEZONE STRING         { $$ = mk_decl(ps, KDECL_TIMEZONE, @$); $$->timezone.str = $2.s; $$->timezone.str_span = kp_span(ps, @2); }
  | EVENT ident             { $$ = mk_decl(ps, KDECL_EVENT, @$); $$->event.name = mk_name(ps, $2, @2); }
  | EVENT ident '{' attrs_opt '}'
        {
            $$ = mk_decl(ps, KDECL_EVENT, @$);
            $$->event.name = mk_name(ps, $2, @2);
            $$->event.has_body = true;
            $4 = rev_attrs($4);
            uint32_t n = 0;
            for (KAttrNode *a = $4; a; a = a->next) n++;
            $$->event.attrs = kp_alloc(ps, (n ? n : 1) * sizeof(KAttrDecl));
            n = 0;
            for (KAttrNode *a = $4; a; a = a->next) $$->event.attrs[n++] = a->attr;
            $$->event.nattrs = n;
        }
  | SURVEY ident            { $$ = mk_decl(ps, KDECL_SURVEY, @$); $$->survey.name = mk_name(ps, $2, @2); }
  | SURVEY ident '{' '}'    { $$ = mk_decl(ps, KDECL_SURVEY, @$); $$->survey.name = mk_name(ps, $2, @2); }
  | SURVEY ident '{' NAME ':' NUMBER '-' NUMBER '}'
        {
            $$ = mk_decl(ps, KDECL_SURVEY, @$);
            $$->survey.name = mk_name(ps, $2, @2);
            if (strcmp($4, "scale") != 0) {
                kd_error(ps->diags, kp_span(ps, @4), "K0214", "unknown survey field `%s`", $4);
                kd_hint(ps->diags, "a survey body is `{ scale: LO-HI }`, e.g. `survey NPS { scale: 0-10 }`");
            } else if ($6 >= $8) {
                kd_error(ps->diags, kp_span(ps, @6), "K0215", "a survey scale goes from low to high: %g-%g", $6, $8);
            } else {
                $$->survey.has_scale = true;
                $$->survey.scale_lo = $6;
                $$->survey.scale_hi = $8;
            }
        }
  | CHANNEL ident           { $$ = mk_decl(ps, KDECL_CHANNEL, @$); $$->channel.name = mk_name(ps, $2, @2); }
  | LET ident '=' expr      { $$ = mk_decl(ps, KDECL_LET, @$); $$->let.name = mk_name(ps, $2, @2); $$->let.value = $4; }
  | CAP NUMBER PER DURATION on_opt
        {
            $$ = mk_decl(ps, KDECL_CAP, @$);
            if (int_in(ps, $2, @2, 1, 1e9, "a cap's count")) $$->cap.n = (uint32_t)$2;
            else $$->cap.n = 1;
            if ($4 == 0)
                kd_error(ps->diags, kp_span(ps, @4), "K0217", "a cap's window must be longer than 0");
            if ($4 <= 0) $4 = 1;        /* (KX_BAD_DUR: reported by the scanner) */
            $$->cap.window = $4;
            $$->cap.channels = name_list(ps, $5);
        }
  | QUIET CLOCK '-' CLOCK on_opt
        {
            $$ = mk_decl(ps, KDECL_QUIET, @$);
            if ($2 == KX_BAD_CLOCK || $4 == KX_BAD_CLOCK) {
                $2 = $4 = 0;            /* reported by the scanner */
            } else if ($2 == 1440) {
                kd_error(ps->diags, kp_span(ps, @2), "K0208", "24:00 can only end a window");
                kd_hint(ps->diags, "write 00:00");
                $2 = 0;
            } else if ($2 == $4 || ($2 == 0 && $4 == 1440)) {
                kd_error(ps->diags, kp_span(ps, @2), "K0207", "quiet hours %02d:%02d-%02d:%02d cover no time or the whole day",
                         $2 / 60, $2 % 60, $4 / 60, $4 % 60);
                kd_hint(ps->diags, "quiet hours are a window such as 20:00-08:00 (it may wrap midnight)");
            }
            $$->quiet.start = $2;
            $$->quiet.end = $4 == 1440 ? 0 : $4;
            $$->quiet.channels = name_list(ps, $5);
        }
  | REQUIRE CONSENT ON chanlist
        { $$ = mk_decl(ps, KDECL_CONSENT, @$); $$->consent.channels = name_list(ps, $4); }
  | RULE ident ':' rule_body
        {
            $$ = $4;
            $$->span = kp_span(ps, @$);
            $$->rule.name = mk_name(ps, $2, @2);
        }
  | rule_body               { $$ = $1; }
  ;

rule_body:
    ASK NAME items %prec RULE_END   { $$ = build_rule(ps, @$, @1, false, mk_name(ps, $2, @2), $3); }
  | TASK NAME items %prec RULE_END  { $$ = build_rule(ps, @$, @1, true, mk_name(ps, $2, @2), $3); }
  ;

ident:
    NAME                    { $$ = $1; }
  | SURVEY                  { $$ = kp_strndup(ps, "survey", 6); }
  | CHANNEL                 { $$ = kp_strndup(ps, "channel", 7); }
  ;

attrs_opt:
    %empty                  { $$ = NULL; }
  | attrs                   { $$ = $1; }
  | attrs ','               { $$ = $1; }
  ;

attrs:
    ident ':' NAME
        {
            $$ = kp_alloc(ps, sizeof *$$);
            $$->attr.name = mk_name(ps, $1, @1);
            $$->attr.type_span = kp_span(ps, @3);
            if (!strcmp($3, "number")) $$->attr.type = KT_NUMBER;
            else if (!strcmp($3, "string")) $$->attr.type = KT_STRING;
            else if (!strcmp($3, "bool")) $$->attr.type = KT_BOOL;
            else if (!strcmp($3, "time")) $$->attr.type = KT_TIME;
            else {
                kd_error(ps->diags, kp_span(ps, @3), "K0213", "unknown attribute type `%s`", $3);
                kd_hint(ps->diags, "an attribute is a number, string, bool or time");
                $$->attr.type = KT_UNTYPED;
            }
        }
  | attrs ',' ident ':' NAME
        {
            KAttrNode *n = kp_alloc(ps, sizeof *n);
            n->attr.name = mk_name(ps, $3, @3);
            n->attr.type_span = kp_span(ps, @5);
            if (!strcmp($5, "number")) n->attr.type = KT_NUMBER;
            else if (!strcmp($5, "string")) n->attr.type = KT_STRING;
            else if (!strcmp($5, "bool")) n->attr.type = KT_BOOL;
            else if (!strcmp($5, "time")) n->attr.type = KT_TIME;
            else {
                kd_error(ps->diags, kp_span(ps, @5), "K0213", "unknown attribute type `%s`", $5);
                kd_hint(ps->diags, "an attribute is a number, string, bool or time");
                n->attr.type = KT_UNTYPED;
            }
            n->next = $1;           /* built in reverse; see rev_attrs */
            $$ = n;
        }
  ;

chanlist:
    NAME                    { $$ = kp_alloc(ps, sizeof *$$); $$->name = mk_name(ps, $1, @1); }
  | chanlist ',' NAME
        {
            KNameNode *n = kp_alloc(ps, sizeof *n);
            n->name = mk_name(ps, $3, @3);
            n->next = $1;           /* built in reverse; see name_list */
            $$ = n;
        }
  ;

on_opt:
    %empty                  { $$ = NULL; }
  | ON chanlist             { $$ = $2; }
  ;

/* ---- rule clauses: a flat list of items ---------------------------------- */

items:
    %empty                  { $$ = NULL; }
  | items item              { $2->next = $1; $$ = $2; }   /* in reverse; see build_rule */
  ;

item:
    VIA NAME                { $$ = mk_item(ps, KPI_VIA, @$, @1); $$->name = mk_name(ps, $2, @2); }
  | THEN NAME               { $$ = mk_item(ps, KPI_THEN, @$, @1); $$->name = mk_name(ps, $2, @2); }
  | AFTER DURATION          { $$ = mk_item(ps, KPI_AFTER_DUR, @$, @1); $$->dur = $2; $$->num_span = kp_span(ps, @2); }
  | AFTER NAME plus_opt where_opt
        {
            $$ = mk_item(ps, KPI_AFTER, @$, @1);
            $$->name = mk_name(ps, $2, @2);
            $$->has_delay = @3.hi > @3.lo;
            $$->dur = $3;
            $$->expr = $4;
        }
  | EVERY NAME              { $$ = mk_item(ps, KPI_EVERY, @$, @1); $$->name = mk_name(ps, $2, @2); }
  | EVERY DURATION          { $$ = mk_item(ps, KPI_EVERY, @$, @1); $$->has_delay = true; $$->dur = $2; $$->num_span = kp_span(ps, @2); }
  | AT CLOCK
        {
            $$ = mk_item(ps, KPI_EVERY_AT, @$, @1);
            $$->start = $2;
            if ($2 == 1440) {
                kd_error(ps->diags, kp_span(ps, @2), "K0208", "24:00 can only end a window");
                kd_hint(ps->diags, "write 00:00");
                $$->start = 0;
            }
        }
  | AT CLOCK '-' CLOCK      { $$ = mk_item(ps, KPI_AT_WINDOW, @$, @1); $$->days = 0x7f; $$->start = $2; $$->end = $4; $$->num_span = kp_span(ps, @2); }
  | AT days                 { $$ = mk_item(ps, KPI_AT_WINDOW, @$, @1); $$->days = (uint8_t)$2; $$->start = 0; $$->end = 1440; $$->num_span = kp_span(ps, @2); }
  | AT days CLOCK '-' CLOCK { $$ = mk_item(ps, KPI_AT_WINDOW, @$, @1); $$->days = (uint8_t)$2; $$->start = $3; $$->end = $5; $$->num_span = kp_span(ps, @3); }
  | AT BEST_TIME '(' NAME ')'
        { $$ = mk_item(ps, KPI_AT_BEST, @$, @1); $$->name = mk_name(ps, $4, @4); }
  | IF expr                 { $$ = mk_item(ps, KPI_IF, @$, @1); $$->expr = $2; }
  | UNLESS expr             { $$ = mk_item(ps, KPI_UNLESS, @$, @1); $$->expr = $2; }
  | CAP NUMBER PER DURATION
        {
            $$ = mk_item(ps, KPI_CAP, @$, @1);
            $$->num = int_in(ps, $2, @2, 1, 1e9, "a cap's count") ? $2 : 1;
            if ($4 == 0)
                kd_error(ps->diags, kp_span(ps, @4), "K0217", "a cap's window must be longer than 0");
            if ($4 <= 0) $4 = 1;        /* (KX_BAD_DUR: reported by the scanner) */
            $$->dur = $4;
        }
  | PRIORITY NUMBER         { $$ = mk_item(ps, KPI_PRIORITY, @$, @1); $$->num = int_in(ps, $2, @2, -1e6, 1e6, "a priority") ? $2 : 0; }
  | PRIORITY '-' NUMBER     { KLoc n = { @2.lo, @3.hi };   /* the number with its sign */
                              $$ = mk_item(ps, KPI_PRIORITY, @$, @1); $$->num = int_in(ps, -$3, n, -1e6, 1e6, "a priority") ? -$3 : 0; }
  | VARIANT NAME NUMBER '%' vbody_opt
        {
            $$ = mk_item(ps, KPI_VARIANT, @$, @1);
            KVariant *v = kp_alloc(ps, sizeof *v);
            v->name = mk_name(ps, $2, @2);
            v->pct = int_in(ps, $3, @3, 0, 100, "a variant's percentage") ? $3 : 0;
            v->span = kp_span(ps, @$);
            KVPart *parts = NULL;
            for (KVPart *p = $5, *nx; p; p = nx) { nx = p->next; p->next = parts; parts = p; }
            for (KVPart *p = parts; p; p = p->next) {
                if (p->is_delay) {
                    if (v->has_delay) {
                        kd_error(ps->diags, p->span, "K0216", "this variant already sets a delay");
                    }
                    v->has_delay = true;
                    v->delay = p->dur;
                } else {
                    if (v->has_channel) {
                        kd_error(ps->diags, p->span, "K0216", "this variant already sets a channel");
                    }
                    v->has_channel = true;
                    v->channel = p->channel;
                }
            }
            $$->variant = v;
            $$->num_span = kp_span(ps, @3);
        }
  | ON RETRIGGER NAME       { $$ = mk_item(ps, KPI_RETRIGGER, @$, @1); $$->name = mk_name(ps, $3, @3); }
  | ON chanlist             { $$ = mk_item(ps, KPI_ON_CHANNELS, @$, @1); }
  ;

plus_opt:
    %empty                  { $$ = 0; }
  | '+' DURATION            { $$ = $2; }
  ;

where_opt:
    %empty                  { $$ = NULL; }
  | WHERE expr              { $$ = $2; }
  ;

days:
    day                     { $$ = $1; }
  | days ',' day            { $$ = $1 | $3; }
  ;

day:
    WEEKDAY                 { $$ = day_bits(WEEKDAY, $1); }
  | DAYRANGE                { $$ = day_bits(DAYRANGE, $1); }
  ;

vbody_opt:
    %empty                  { $$ = NULL; }
  | '{' '}'                 { $$ = NULL; }
  | '{' vparts '}'          { $$ = $2; }
  ;

vparts:
    vpart                   { $$ = $1; }
  | vparts vpart            { $2->next = $1; $$ = $2; }   /* in reverse */
  ;

vpart:
    '+' DURATION            { $$ = kp_alloc(ps, sizeof *$$); $$->is_delay = true; $$->dur = $2; $$->span = kp_span(ps, @$); }
  | VIA NAME                { $$ = kp_alloc(ps, sizeof *$$); $$->channel = mk_name(ps, $2, @2); $$->span = kp_span(ps, @$); }
  ;

/* ---- expressions -------------------------------------------------------------- */

expr:
    unary                   { $$ = $1; }
  | '-' expr %prec UMINUS   { $$ = mk_un(ps, KOP_NEG, $2, @$); }
  | NOT expr                { $$ = mk_un(ps, KOP_NOT, $2, @$); }
  | expr OR expr            { $$ = mk_bin(ps, KOP_OR, $1, $3, @$); }
  | expr AND expr           { $$ = mk_bin(ps, KOP_AND, $1, $3, @$); }
  | expr EQ expr            { $$ = mk_bin(ps, KOP_EQ, $1, $3, @$); }
  | expr NE expr            { $$ = mk_bin(ps, KOP_NE, $1, $3, @$); }
  | expr '<' expr           { $$ = mk_bin(ps, KOP_LT, $1, $3, @$); }
  | expr LE expr            { $$ = mk_bin(ps, KOP_LE, $1, $3, @$); }
  | expr '>' expr           { $$ = mk_bin(ps, KOP_GT, $1, $3, @$); }
  | expr GE expr            { $$ = mk_bin(ps, KOP_GE, $1, $3, @$); }
  | expr '+' expr           { $$ = mk_bin(ps, KOP_ADD, $1, $3, @$); }
  | expr '-' expr           { $$ = mk_bin(ps, KOP_SUB, $1, $3, @$); }
  | expr '*' expr           { $$ = mk_bin(ps, KOP_MUL, $1, $3, @$); }
  | expr '/' expr           { $$ = mk_bin(ps, KOP_DIV, $1, $3, @$); }
  | expr IN '[' in_items ']'                 { $$ = mk_in(ps, $1, $4, @$); }
  | expr IN '[' ']'                          { $$ = mk_in(ps, $1, NULL, @$); }
    /* `x in [..] within D`: only the window of a count (peel_within takes
     * it off the end of a where); anywhere else `within` needs an event */
  | expr IN '[' in_items ']' WITHIN primary  { $$ = mk_within(ps, mk_in(ps, $1, $4, loc_to(@1, @5)), $7, @$); }
  | expr IN '[' ']' WITHIN primary           { $$ = mk_within(ps, mk_in(ps, $1, NULL, loc_to(@1, @4)), $6, @$); }
  ;

in_items:
    in_item                 { $$ = kp_alloc(ps, sizeof *$$); $$->e = $1; }
  | in_items ',' in_item
        {
            KExprNode *n = kp_alloc(ps, sizeof *n);
            n->e = $3;
            n->next = $1;           /* in reverse; see rev_exprs */
            $$ = n;
        }
  ;

/* A weekday range in a list stands for its days: [mon-fri]. */
in_item:
    expr                    { $$ = $1; }
  | DAYRANGE
        {
            /* expanded by the caller's loop below: a chain of weekday nodes */
            int from = $1 / 8, to = $1 % 8;
            $$ = mk(ps, KEX_WEEKDAY, @$);
            $$->weekday = from;
            KExpr *t = $$;
            for (int d = from; d != to; ) {
                d = (d + 1) % 7;
                KExpr *n = mk(ps, KEX_WEEKDAY, @$);
                n->weekday = d;
                t->b = n;          /* temporary chain through b, split in fixup */
                t = n;
            }
        }
  ;

unary:
    postfix                 { $$ = $1; }
  | NO postfix              { $$ = mk_un(ps, KOP_NO, $2, @$); }
  ;

postfix:
    primary                 { $$ = $1; }
  | postfix WITHIN primary  { $$ = mk_within(ps, $1, $3, @$); }
  ;

primary:
    NUMBER                  { $$ = mk(ps, KEX_NUM, @$); $$->num = $1; }
  | STRING                  { $$ = mk(ps, KEX_STR, @$); $$->str = $1.s; $$->slen = $1.n; $$->bad = $1.bad; }
  | TRUE                    { $$ = mk(ps, KEX_BOOL, @$); $$->bval = true; }
  | FALSE                   { $$ = mk(ps, KEX_BOOL, @$); $$->bval = false; }
  | DURATION                { $$ = mk(ps, KEX_DUR, @$); $$->dur = $1; }
  | WEEKDAY                 { $$ = mk(ps, KEX_WEEKDAY, @$); $$->weekday = $1; }
  | ident                   { $$ = mk(ps, KEX_NAME, @$); $$->name = $1; }
  | ident '(' ')'           { $$ = mk_call(ps, $1, NULL, NULL, @$); }
  | ident '(' args ')'      { $$ = mk_call(ps, $1, $3, NULL, @$); }
  | ident '(' expr WHERE expr ')'
        {
            KExprNode *n = kp_alloc(ps, sizeof *n);
            n->e = $3;
            $$ = mk_call(ps, $1, n, $5, @$);
        }
  | BEST_TIME '(' args ')'  { $$ = mk_call(ps, kp_strndup(ps, "best_time", 9), $3, NULL, @$); }
  | '(' expr ')'            { $$ = $2; $$->paren = true; }
  | primary '.' ident
        {
            $$ = mk(ps, KEX_FIELD, @$);
            $$->a = $1;
            deeper(ps, $$, &$$->a);
            $$->field = $3;
            $$->name = $3;
            $$->field_span = kp_span(ps, @3);
        }
  ;

args:
    expr                    { $$ = kp_alloc(ps, sizeof *$$); $$->e = $1; }
  | args ',' expr
        {
            KExprNode *n = kp_alloc(ps, sizeof *n);
            n->e = $3;
            n->next = $1;           /* in reverse; see rev_exprs */
            $$ = n;
        }
  ;

%%

/* ---- allocation and small constructors -------------------------------------- */

void *kp_alloc(KParse *ps, size_t n)
{
    void *p = ka_alloc(ps->arena, n);
    if (!p) longjmp(ps->fatal, 1);
    return p;
}

char *kp_strndup(KParse *ps, const char *s, size_t n)
{
    char *p = ka_strndup(ps->arena, s, n);
    if (!p) longjmp(ps->fatal, 1);
    return p;
}

KSpan kp_span(const KParse *ps, KLoc l)
{
    return (KSpan){ ps->src, l.lo, l.hi };
}

static KExpr *mk(KParse *ps, KExprKind kind, KLoc loc)
{
    KExpr *e = kp_alloc(ps, sizeof *e);
    e->kind = kind;
    e->span = kp_span(ps, loc);
    return e;
}

/* Sets e's depth from a child's; reports (once) a nesting beyond the limit
 * and cuts the tree there. */
static void deeper(KParse *ps, KExpr *e, KExpr **child)
{
    if (!*child) return;
    if ((*child)->depth + 1 > e->depth) e->depth = (*child)->depth + 1;
    if (e->depth > KP_MAX_DEPTH) {
        if (!ps->too_deep)
            kd_error(ps->diags, e->span, "K0221", "the expression is nested too deeply (more than %d levels)",
                     KP_MAX_DEPTH);
        ps->too_deep = true;
        /* a placeholder the checker treats as already reported */
        KExpr *z = mk(ps, KEX_NAME, (KLoc){ (*child)->span.lo, (*child)->span.hi });
        z->name = kp_strndup(ps, "", 0);
        *child = z;
        e->depth = 1;
    }
}

static KExpr *mk_bin(KParse *ps, KOp op, KExpr *a, KExpr *b, KLoc loc)
{
    KExpr *e = mk(ps, KEX_BINARY, loc);
    e->op = op;
    e->a = a;
    e->b = b;
    deeper(ps, e, &e->a);
    deeper(ps, e, &e->b);
    return e;
}

static KExpr *mk_un(KParse *ps, KOp op, KExpr *a, KLoc loc)
{
    KExpr *e = mk(ps, KEX_UNARY, loc);
    e->op = op;
    e->a = a;
    deeper(ps, e, &e->a);
    return e;
}

/* Lists are built in reverse by the left-recursive rules (constant time
 * per element); these put them back in source order. */
static KExprNode *rev_exprs(KExprNode *l)
{
    KExprNode *r = NULL;
    for (KExprNode *nx; l; l = nx) { nx = l->next; l->next = r; r = l; }
    return r;
}

static KAttrNode *rev_attrs(KAttrNode *l)
{
    KAttrNode *r = NULL;
    for (KAttrNode *nx; l; l = nx) { nx = l->next; l->next = r; r = l; }
    return r;
}

/* expr IN [items] (items in reverse, or NULL for an empty list). */
static KExpr *mk_in(KParse *ps, KExpr *x, KExprNode *items, KLoc loc)
{
    KExpr *e = mk(ps, KEX_IN, loc);
    e->a = x;
    items = rev_exprs(items);
    uint32_t n = 0;
    for (KExprNode *i = items; i; i = i->next) n++;
    e->args = kp_alloc(ps, (n ? n : 1) * sizeof(KExpr *));
    n = 0;
    for (KExprNode *i = items; i; i = i->next) e->args[n++] = i->e;
    e->nargs = n;
    deeper(ps, e, &e->a);
    for (uint32_t i = 0; i < n; i++) deeper(ps, e, &e->args[i]);
    return e;
}

/* x within d */
static KExpr *mk_within(KParse *ps, KExpr *x, KExpr *d, KLoc loc)
{
    KExpr *e = mk(ps, KEX_WITHIN, loc);
    e->a = x;
    e->b = d;
    deeper(ps, e, &e->a);
    deeper(ps, e, &e->b);
    return e;
}

/* Peels a trailing `within D` off the right spine of an unparenthesised
 * expression: `count(t where kind == "x" within 7d)` counts t in 7d. */
static KExpr *peel_within(KExpr **pp)
{
    while (*pp && !(*pp)->paren) {
        KExpr *e = *pp;
        if (e->kind == KEX_WITHIN) {
            *pp = e->a;
            return e->b;
        }
        if (e->kind == KEX_BINARY) pp = &e->b;
        else if (e->kind == KEX_UNARY) pp = &e->a;
        else break;
    }
    return NULL;
}

static KExpr *mk_call(KParse *ps, char *name, KExprNode *args, KExpr *where, KLoc loc)
{
    KExpr *e = mk(ps, KEX_CALL, loc);
    args = rev_exprs(args);
    e->name = name;
    uint32_t n = 0;
    for (KExprNode *a = args; a; a = a->next) n++;
    e->args = kp_alloc(ps, (n ? n : 1) * sizeof(KExpr *));
    n = 0;
    for (KExprNode *a = args; a; a = a->next) e->args[n++] = a->e;
    e->nargs = n;
    e->where = where;
    if (where) e->within = peel_within(&e->where);
    else if (n > 0) e->within = peel_within(&e->args[n - 1]);
    for (uint32_t i = 0; i < n; i++) deeper(ps, e, &e->args[i]);
    deeper(ps, e, &e->where);
    deeper(ps, e, &e->within);
    return e;
}

static KDecl *mk_decl(KParse *ps, KDeclKind kind, KLoc loc)
{
    KDecl *d = kp_alloc(ps, sizeof *d);
    d->kind = kind;
    d->span = kp_span(ps, loc);
    return d;
}

static KItem *mk_item(KParse *ps, KItemKind kind, KLoc loc, KLoc kw)
{
    KItem *it = kp_alloc(ps, sizeof *it);
    it->kind = kind;
    it->span = kp_span(ps, loc);
    it->kw = kp_span(ps, kw);
    return it;
}

static KName mk_name(KParse *ps, char *s, KLoc loc)
{
    return (KName){ s, kp_span(ps, loc) };
}

static KNameList name_list(KParse *ps, KNameNode *n)
{
    KNameList l = { NULL, 0 };
    KNameNode *r = NULL;
    for (KNameNode *i = n, *nx; i; i = nx) { nx = i->next; i->next = r; r = i; }
    n = r;
    for (KNameNode *i = n; i; i = i->next) l.n++;
    if (l.n == 0) return l;
    l.v = kp_alloc(ps, l.n * sizeof *l.v);
    uint32_t k = 0;
    for (KNameNode *i = n; i; i = i->next) l.v[k++] = i->name;
    return l;
}

static uint8_t day_bits(int tok_kind, int v)
{
    if (tok_kind == WEEKDAY) return (uint8_t)(1u << v);
    int from = v / 8, to = v % 8;
    uint8_t bits = 0;
    for (int d = from;; d = (d + 1) % 7) {
        bits |= (uint8_t)(1u << d);
        if (d == to) break;
    }
    return bits;
}

/* True when v is an integer in [lo, hi]; reports otherwise. */
static bool int_in(KParse *ps, double v, KLoc loc, double lo, double hi, const char *what)
{
    if (isnan(v)) return false;       /* a bad number, reported by the scanner */
    if (v == floor(v) && v >= lo && v <= hi) return true;
    if (hi >= 1e9)
        kd_error(ps->diags, kp_span(ps, loc), "K0209", "%s must be a whole number of at least %.0f", what, lo);
    else
        kd_error(ps->diags, kp_span(ps, loc), "K0209", "%s must be a whole number from %.0f to %.0f", what, lo, hi);
    return false;
}

/* Splits the weekday chains that in_item builds for ranges ([mon-fri]). */
static void fix_in_lists(KParse *ps, KExpr *e);

static void append_decl(KParse *ps, KDecl *d)
{
    if (!d) return;
    if (ps->last) ps->last->next = d;
    else ps->first = d;
    ps->last = d;
}

/* ---- the token stream ------------------------------------------------------- */

_Static_assert(sizeof(YYSTYPE) <= sizeof(((KParse *)0)->held_val), "KParse.held_val too small");

/* True when the token at loc is the first of its line and in column 1. */
static bool in_column1(const KParse *ps, KLoc loc)
{
    return loc.lo == 0 || ps->text[loc.lo - 1] == '\n';
}

/* Closing brackets cannot start a declaration.  In column 1 the `}` that
 * ends an event's or a survey's attribute list goes on with it (the layout
 * rule speaks of rules: SPEC 1.3), wherever its declaration started; any
 * other (a variant's body too) is reported (K0222) and read as if indented. */
static bool is_closer(int tok)
{
    return tok == '}' || tok == ')' || tok == ']';
}
static bool body_closer(const KParse *ps, int tok)
{
    return tok == '}' && ps->body_open;
}

/* Follows which `{` is open: an event's or a survey's list, or a variant's
 * body (the last of `event`, `survey`, `variant` before the `{` says
 * which), wherever on its line the declaration starts. */
static void track_braces(KParse *ps, int tok)
{
    if (tok == EVENT || tok == SURVEY || tok == VARIANT) ps->brace_owner = tok;
    else if (tok == '{') ps->body_open = ps->brace_owner == EVENT || ps->brace_owner == SURVEY;
    else if (tok == '}') ps->body_open = false;
}

/* True when only blanks precede the token at loc on its line. */
static bool first_on_line(const KParse *ps, KLoc loc)
{
    for (uint32_t i = loc.lo; i > 0; i--) {
        char c = ps->text[i - 1];
        if (c == '\n') return true;
        if (c != ' ' && c != '\t' && c != '\r' && c != '\f' && c != '\v') return false;
    }
    return true;
}

/* A declaration that begins an indented line (K0223): an indented line goes
 * on with the declaration above, which this one cannot do.  (One after
 * another on the same line is allowed; after a syntax error the parser is
 * resynchronising and says nothing.) */
static void indented_decl(KParse *ps, KLoc loc)
{
    if (ps->recovering || !first_on_line(ps, loc) || in_column1(ps, loc)) return;
    const char *t = ps->text + loc.lo;
    int n = 0;
    while (t[n] >= 'a' && t[n] <= 'z') n++;
    kd_error(ps->diags, kp_span(ps, (KLoc){ loc.lo, loc.lo + (uint32_t)n }), "K0223",
             "this `%.*s` is indented, but a declaration starts in column 1", n, t);
    if (ps->first || ps->decl_starts > 0)
        kd_hint(ps->diags, "an indented line goes on with the declaration above, and `%.*s` cannot: "
                "remove the indentation", n, t);
    else
        kd_hint(ps->diags, "remove the indentation");
}

/* Words that go on with a declaration and cannot start one: in column 1
 * they are reported (K0222) and read as if indented. */
static bool is_clause_word(int tok)
{
    switch (tok) {
    case VIA: case THEN: case AFTER: case WHERE: case EVERY: case AT: case IF: case UNLESS:
    case PRIORITY: case VARIANT: case ON: case AND: case OR: case PER: case WITHIN:
        return true;
    default:
        return false;
    }
}

static const char *tok_text(const KParse *ps, KLoc loc, int *len)
{
    *len = (int)(loc.hi - loc.lo > 40 ? 40 : loc.hi - loc.lo);
    return ps->text + loc.lo;
}

/* The token stream, with the layout rule (SPEC 1.3): a token in column 1
 * is preceded by DECL_START, except a closing bracket or a clause word
 * after a declaration (K0222: that line should have been indented). */
static int kp_lex(YYSTYPE *lval, YYLTYPE *lloc, yyscan_t scanner, KParse *ps)
{
    int tok;
    if (ps->held) {
        ps->held = false;
        tok = ps->held_tok;
        *lloc = ps->held_loc;
        memcpy(lval, ps->held_val, sizeof *lval);
        ps->cur_tok = tok;            /* the token before DECL_START stays prev */
        ps->cur_loc = *lloc;
        return tok;
    }
    tok = kx_yylex(lval, lloc, scanner);
    bool closes_body = body_closer(ps, tok);
    track_braces(ps, tok);
    if (tok != 0 && in_column1(ps, *lloc) && !closes_body) {
        if ((is_clause_word(tok) || is_closer(tok)) && ps->decl_starts > 0) {
            int n;
            const char *t = tok_text(ps, *lloc, &n);
            kd_error(ps->diags, kp_span(ps, *lloc), "K0222", "`%.*s` is in column 1, where a declaration starts, "
                     "but no declaration starts with `%.*s`", n, t, n, t);
            if (is_closer(tok))
                kd_hint(ps->diags, "a declaration goes on over indented lines only: indent the closing bracket to "
                        "continue the declaration of line %u", ps->decl_line);
            else
                kd_hint(ps->diags, "a declaration goes on over indented lines only: indent this line to continue the "
                        "declaration of line %u", ps->decl_line);
            ps->col1_reported = true;
            ps->col1_lo = lloc->lo;
        } else {
            ps->held = true;
            ps->held_tok = tok;
            ps->held_loc = *lloc;
            memcpy(ps->held_val, lval, sizeof *lval);
            ps->decl_starts++;
            ps->prev_decl_line = ps->decl_line;
            uint32_t col;
            kd_line_col(&ps->sources->v[ps->src], lloc->lo, &ps->decl_line, &col);
            tok = DECL_START;
        }
    }
    ps->prev_tok = ps->cur_tok;
    ps->prev_loc = ps->cur_loc;
    ps->cur_tok = tok;
    ps->cur_loc = *lloc;
    return tok;
}

/* Bison's own errors (memory exhausted: the nesting is too deep). */
static void yyerror(YYLTYPE *loc, yyscan_t scanner, KParse *ps, const char *msg)
{
    (void)scanner;
    kd_error(ps->diags, kp_span(ps, *loc), "K0221", "%s (the expression is nested too deeply)", msg);
}

/* ---- syntax error messages ---------------------------------------------------- */

typedef struct Buf { char s[512]; size_t n; } Buf;

static void bput(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bput(Buf *b, const char *fmt, ...)
{
    if (b->n >= sizeof b->s - 1) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->s + b->n, sizeof b->s - b->n, fmt, ap);
    va_end(ap);
    if (k > 0) b->n += (size_t)k;
    if (b->n >= sizeof b->s) b->n = sizeof b->s - 1;
}

/* The source text of a token, quoted, for messages. */
static void quote_tok(KParse *ps, Buf *b, yysymbol_kind_t sym, KLoc loc)
{
    if (sym == YYSYMBOL_YYEOF) { bput(b, "the end of the file"); return; }
    if (sym == YYSYMBOL_STRING) { bput(b, "a string"); return; }
    uint32_t n = loc.hi - loc.lo;
    if (n > 40) n = 40;
    bput(b, "`%.*s`", (int)n, ps->text + loc.lo);
}

/* A readable name for an expected token, given the token before. */
static const char *expected_name(yysymbol_kind_t sym, int prev)
{
    switch (sym) {
    case YYSYMBOL_NAME:
        switch (prev) {
        case AFTER: return "an event name";
        case VIA: case THEN: case ON: return "a channel name";
        case ASK: return "a survey name";
        case TASK: return "a task name";
        case EVENT: return "an event name";
        case SURVEY: return "a survey name";
        case CHANNEL: return "a channel name";
        case RULE: return "a rule name";
        case EVERY: return "a period (day, week, month, quarter, year)";
        case VARIANT: return "a variant name";
        case RETRIGGER: return "`restart` or `keep`";
        case WITHIN: case '(': return "a name";
        default: return "a name";
        }
    case YYSYMBOL_STRING: return "a string";
    case YYSYMBOL_NUMBER: return "a number";
    case YYSYMBOL_DURATION: return prev == EVERY ? "a duration" : "a duration (e.g. 24h)";
    case YYSYMBOL_CLOCK: return "a clock time (HH:MM)";
    case YYSYMBOL_WEEKDAY: return "a weekday";
    case YYSYMBOL_DAYRANGE: return "a weekday range";
    case YYSYMBOL_YYEOF: return "the end of the file";
    case YYSYMBOL_DECL_START: return "a new declaration (in column 1)";
    default: return NULL;
    }
}

/* The one-letter unit of a unit word (`days`, `hrs`), or NULL. */
static const char *unit_of_word(const char *w, size_t n)
{
    static const struct { const char *word; const char *unit; } units[] = {
        { "s", "s" }, { "sec", "s" }, { "secs", "s" }, { "second", "s" }, { "seconds", "s" },
        { "m", "m" }, { "min", "m" }, { "mins", "m" }, { "minute", "m" }, { "minutes", "m" },
        { "h", "h" }, { "hr", "h" }, { "hrs", "h" }, { "hour", "h" }, { "hours", "h" },
        { "d", "d" }, { "day", "d" }, { "days", "d" },
        { "w", "w" }, { "wk", "w" }, { "wks", "w" }, { "week", "w" }, { "weeks", "w" },
    };
    for (size_t k = 0; k < sizeof units / sizeof units[0]; k++)
        if (strlen(units[k].word) == n && strncmp(units[k].word, w, n) == 0) return units[k].unit;
    return NULL;
}

/* A number where a duration was expected (`cap 1 per 30`, `+ 2 days`):
 * the error covers the number and a unit word after it, and the hint
 * writes the duration. */
static void number_for_duration(KParse *ps, KLoc *loc, char *hint, size_t cap)
{
    const char *num = ps->text + loc->lo;
    int nl = (int)(loc->hi - loc->lo);
    const char *p = ps->text + loc->hi, *end = ps->text + ps->len;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    const char *w = p;
    while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) p++;
    const char *unit = p > w ? unit_of_word(w, (size_t)(p - w)) : NULL;
    if (memchr(num, '.', (size_t)nl)) {
        if (unit) loc->hi = (uint32_t)(p - ps->text);
        snprintf(hint, cap, "a duration is a whole number and a unit letter, e.g. `36h` or `1d12h`");
    } else if (unit) {
        loc->hi = (uint32_t)(p - ps->text);
        snprintf(hint, cap, "a duration is a number and a unit letter, without a space: write `%.*s%s`", nl, num, unit);
    } else {
        snprintf(hint, cap, "durations have a unit: write `%.*sd` (or h, m, s, w)", nl, num);
    }
}

static int yyreport_syntax_error(const yypcontext_t *ctx, yyscan_t scanner, KParse *ps)
{
    (void)scanner;
    enum { MAXEXP = 40 };
    yysymbol_kind_t exp[MAXEXP];
    int n = yypcontext_expected_tokens(ctx, exp, MAXEXP);
    if (n < 0) n = 0;
    yysymbol_kind_t la = yypcontext_token(ctx);
    KLoc loc = *yypcontext_location(ctx);
    /* a token the scanner reported already (`2dayz`, `9am`): one error */
    if (la != YYSYMBOL_YYEOF && ps->bad_tok == loc.lo + 1) return 0;
    /* right after stray characters the scanner reported and skipped (`a && b`,
     * `amount > 5 @ 3`): the token is out of place because of them, one error */
    if (ps->skipped_hi && ps->skipped_hi <= loc.lo) {
        uint32_t i = ps->skipped_hi;
        while (i < loc.lo && (ps->text[i] == ' ' || ps->text[i] == '\t')) i++;
        if (i == loc.lo) return 0;
    }
    /* `=<` and `=>`: a swapped operator */
    if (ps->cur_tok == '=' && loc.hi < ps->len && (ps->text[loc.hi] == '<' || ps->text[loc.hi] == '>')) {
        char op = ps->text[loc.hi];
        loc.hi++;
        kd_error(ps->diags, kp_span(ps, loc), "K0201", "`=%c` is not an operator", op);
        kd_hint(ps->diags, "write `%c=`", op);
        return 0;
    }
    int prev = ps->prev_tok;
    if (ps->col1_reported && loc.lo == ps->col1_lo)
        return 0;                     /* K0222 already said it: the line is not indented */
    if (la == YYSYMBOL_YYEOF) {
        /* at the end of the file: point just after the last token */
        prev = ps->cur_tok == 0 ? ps->prev_tok : ps->cur_tok;
        KLoc pl = ps->cur_tok == 0 ? ps->prev_loc : ps->cur_loc;
        loc.lo = loc.hi = pl.hi;
    }
    Buf b = { .n = 0 };

    /* Is an expression expected here? */
    bool want_expr = false, has_name = false;
    for (int i = 0; i < n; i++) {
        if (exp[i] == YYSYMBOL_NUMBER || exp[i] == YYSYMBOL_STRING) want_expr = true;
        if (exp[i] == YYSYMBOL_NAME) has_name = true;
    }
    want_expr = want_expr && has_name;

    const char *phrases[MAXEXP];
    bool is_readable[MAXEXP];
    int np = 0;
    if (want_expr) { is_readable[np] = true; phrases[np++] = "an expression"; }
    else {
        for (int i = 0; i < n; i++) {
            yysymbol_kind_t s = exp[i];
            if (prev == AFTER && s == YYSYMBOL_DURATION) continue;   /* `after 24h` only follows `then CH` */
            if (s == YYSYMBOL_SURVEY || s == YYSYMBOL_CHANNEL) continue;  /* also names */
            const char *p = expected_name(s, prev);
            is_readable[np] = p != NULL;
            phrases[np++] = p ? p : yysymbol_name(s);
        }
    }
    bool operators_only = false;
    if (!want_expr && np > 6) operators_only = true;
    const char *closer = NULL;
    for (int i = 0; i < n && operators_only; i++) {
        const char *sn = yysymbol_name(exp[i]);
        if (!strcmp(sn, "')'")) closer = "`)`";
        else if (!strcmp(sn, "']'") && !closer) closer = "`]`";
    }
    if (closer) {
        bput(&b, "expected %s or an operator after ", closer);
        quote_tok(ps, &b, YYSYMBOL_YYUNDEF, ps->prev_loc);
        bput(&b, ", found ");
        quote_tok(ps, &b, la, loc);
    } else if (np == 0 || operators_only) {
        bput(&b, "unexpected ");
        quote_tok(ps, &b, la, loc);
        if (prev && la != YYSYMBOL_YYEOF) {
            bput(&b, " after ");
            quote_tok(ps, &b, YYSYMBOL_YYUNDEF, ps->prev_loc);
        }
    } else {
        bput(&b, "expected ");
        for (int i = 0; i < np; i++) {
            if (i > 0) bput(&b, i == np - 1 ? " or " : ", ");
            /* bison's names of keyword tokens carry quotes: "after" */
            const char *p = phrases[i];
            size_t pl = strlen(p);
            if (pl >= 2 && (p[0] == '"' || p[0] == '\'') && p[pl - 1] == p[0]) bput(&b, "`%.*s`", (int)pl - 2, p + 1);
            else if (is_readable[i]) bput(&b, "%s", p);
            else bput(&b, "`%s`", p);
        }
        if (prev) {
            bput(&b, " after ");
            quote_tok(ps, &b, YYSYMBOL_YYUNDEF, ps->prev_loc);
        }
        bput(&b, ", found ");
        quote_tok(ps, &b, la, loc);
    }
    /* a number where a duration goes */
    bool want_dur = false;
    for (int i = 0; i < n; i++) want_dur = want_dur || exp[i] == YYSYMBOL_DURATION;
    char dhint[160] = "";
    if (want_dur && !want_expr && la == YYSYMBOL_NUMBER) number_for_duration(ps, &loc, dhint, sizeof dhint);
    kd_error(ps->diags, kp_span(ps, loc), "K0201", "%s", b.s);
    /* hints for common slips */
    int cur = ps->cur_tok;
    if (dhint[0])
        kd_hint(ps->diags, "%s", dhint);
    else if (prev == AFTER && (cur == '+' || cur == DURATION))
        kd_hint(ps->diags, "a trigger is `after EVENT + DURATION`, e.g. `after ticket_closed + 24h`");
    else if (la != YYSYMBOL_DECL_START && loc.lo < ps->len && (loc.lo == 0 || ps->text[loc.lo - 1] == '\n') &&
             (cur == '<' || cur == '>' || cur == LE || cur == GE || cur == EQ || cur == NE || cur == IN ||
              cur == '+' || cur == '-' || cur == '*' || cur == '/' || cur == ',' || cur == '{'))
        /* an operator or a bracket in column 1 (`>= 3`, `+ 24h`, `, email`): the line meant to go on */
        kd_hint(ps->diags, "a line whose first token is in column 1 starts a new declaration: indent this line "
                "to continue the one above");
    else if (cur == '=')
        kd_hint(ps->diags, "equality is written `==`");
    else if (cur == '<' || cur == '>' || cur == LE || cur == GE || cur == EQ || cur == NE || cur == IN)
        kd_hint(ps->diags, "comparisons do not chain: combine them with `and`, e.g. `1 < x and x < 10`");
    else if (la == YYSYMBOL_YYEOF && prev == ASK)
        kd_hint(ps->diags, "an ask names a survey: `ask NPS after EVENT`");
    else if (la == YYSYMBOL_DECL_START && ps->held && ps->decl_starts > 1) {
        /* the token in column 1 would have gone on with the declaration */
        bool fits = false;
        for (int i = 0; i < n; i++) fits = fits || exp[i] == YYTRANSLATE(ps->held_tok);
        if (fits)
            kd_hint(ps->diags, "a line whose first token is in column 1 starts a new declaration: "
                    "indent this line to continue the declaration of line %u", ps->prev_decl_line);
    }
    return 0;
}

/* ---- assembling a rule from its items ---------------------------------------- */

/* The clause each item belongs to, and whether it starts it (lang/clauses.h). */
static const struct { KClause clause; bool opens; } item_clause[] = {
#define KP_ITEM_(item, clause, opens) [KPI_##item] = { KCL_##clause, opens },
    KAIROS_ITEMS(KP_ITEM_)
#undef KP_ITEM_
};

/* Reports a clause given twice: error at the second, note at the first. */
static void dup_clause(KParse *ps, KItem *it, KSpan first)
{
    KClause c = item_clause[it->kind].clause;
    kd_error(ps->diags, it->span, "K0204", "this rule already has %s", kclause_info[c].what);
    if (c == KCL_IF || c == KCL_UNLESS)
        kd_hint(ps->diags, "combine the conditions with `and` in one `%s` clause", kclause_word(c));
    else
        kd_hint(ps->diags, "each clause appears at most once in a rule");
    kd_note(ps->diags, first, "the first one is here");
}

static KDecl *build_rule(KParse *ps, KLoc loc, KLoc head_kw, bool task, KName target, KItem *items)
{
    KDecl *d = mk_decl(ps, KDECL_RULE, loc);
    KRule *r = &d->rule;
    r->is_task = task;
    r->target = target;
    r->kw_span = kp_span(ps, head_kw);
    r->every_at = -1;
    KItem *rev = NULL;                /* the grammar builds the list in reverse */
    for (KItem *it = items, *nx; it; it = nx) { nx = it->next; it->next = rev; rev = it; }
    items = rev;

    uint32_t natt = 0, nvar = 0;
    for (KItem *it = items; it; it = it->next) {
        if (it->kind == KPI_VIA || it->kind == KPI_THEN) natt++;
        if (it->kind == KPI_VARIANT) nvar++;
    }
    r->attempts = kp_alloc(ps, (natt ? natt : 1) * sizeof *r->attempts);
    r->variants = kp_alloc(ps, (nvar ? nvar : 1) * sizeof *r->variants);

    KItem *prev = NULL;
    KItem *pending_then = NULL;   /* a `then CH` waiting for its `after DUR` */
    bool chain_open = false;      /* the previous item may be followed by `then` */
    KSpan trigger = { 0, 0, 0 };
    /* Where the first of each clause is, for "this rule already has". */
    KSpan *first[KCL_OTHER] = {
        [KCL_VIA] = &r->via_span, [KCL_TRIGGER] = &trigger, [KCL_IF] = &r->if_span,
        [KCL_UNLESS] = &r->unless_span, [KCL_AT] = &r->at_span, [KCL_CAP] = &r->cap_span,
        [KCL_PRIORITY] = &r->priority_span, [KCL_RETRIGGER] = &r->retrigger_span,
    };
    for (KItem *it = items; it; prev = it, it = it->next) {
        if (pending_then && it->kind != KPI_AFTER_DUR) {
            kd_error(ps->diags, pending_then->span, "K0206", "`then %s` needs a delay", pending_then->name.s);
            kd_hint(ps->diags, "a reminder is `then CHANNEL after DURATION`, e.g. `then %s after 24h`",
                    pending_then->name.s);
            pending_then = NULL;
        }
        bool opens_chain = false;
        KClause cl = item_clause[it->kind].clause;
        if (item_clause[it->kind].opens && !kclause_info[cl].repeatable && first[cl] && first[cl]->hi) {
            dup_clause(ps, it, *first[cl]);
            chain_open = false;
            fix_in_lists(ps, it->expr);
            continue;
        }
        switch (it->kind) {
        case KPI_VIA:
            r->via_span = it->span;
            r->attempts[r->nattempts++] = (KAttempt){ it->name, 0, it->span };
            opens_chain = true;
            break;
        case KPI_THEN:
            if (!chain_open) {
                kd_error(ps->diags, it->kw, "K0202", "`then` must follow `via CHANNEL` or another `then CHANNEL after DURATION`");
                kd_hint(ps->diags, "a reminder chain is written `via sms then email after 24h`");
                break;
            }
            r->attempts[r->nattempts++] = (KAttempt){ it->name, 0, it->span };
            r->via_span.hi = it->span.hi;
            pending_then = it;
            break;
        case KPI_AFTER_DUR:
            if (pending_then && prev == pending_then) {
                r->attempts[r->nattempts - 1].after = it->dur;
                r->attempts[r->nattempts - 1].span.hi = it->span.hi;
                r->via_span.hi = it->span.hi;
                pending_then = NULL;
                opens_chain = true;
                if (it->dur == 0)
                    kd_error(ps->diags, it->num_span, "K0218", "a reminder's delay must be longer than 0");
            } else {
                kd_error(ps->diags, it->span, "K0205", "`after` with a duration but no event");
                kd_hint(ps->diags, "a trigger is `after EVENT + DURATION`; a reminder is `then CHANNEL after DURATION`");
            }
            break;
        case KPI_AFTER:
            trigger = it->span;
            r->after_span = it->span;
            r->after_event = it->name;
            r->has_delay = it->has_delay;
            r->delay = it->dur;
            r->where = it->expr;
            break;
        case KPI_EVERY:
            trigger = it->span;
            r->every_span = it->span;
            if (it->has_delay) {
                r->period = KPER_DURATION;
                r->period_dur = it->dur;
                if (it->dur == 0)
                    kd_error(ps->diags, it->num_span, "K0219", "a period must be longer than 0");
                if (it->dur <= 0) r->period_dur = 86400;
            } else {
                const char *p = it->name.s;
                if (!strcmp(p, "day")) r->period = KPER_DAY;
                else if (!strcmp(p, "week")) r->period = KPER_WEEK;
                else if (!strcmp(p, "month")) r->period = KPER_MONTH;
                else if (!strcmp(p, "quarter")) r->period = KPER_QUARTER;
                else if (!strcmp(p, "year")) r->period = KPER_YEAR;
                else {
                    kd_error(ps->diags, it->name.span, "K0212", "unknown period `%s`", p);
                    kd_hint(ps->diags, "`every` takes day, week, month, quarter, year or a duration such as 90d");
                    r->period = KPER_DAY;
                }
            }
            break;
        case KPI_EVERY_AT:
            if (it->start == KX_BAD_CLOCK) break;          /* reported by the scanner */
            if (!prev || prev->kind != KPI_EVERY || !r->every_span.hi) {
                kd_error(ps->diags, it->span, "K0203", "`at %02d:%02d` needs `every` before it",
                         it->start / 60, it->start % 60);
                kd_hint(ps->diags, "a periodic trigger is `every day at 09:00`; a send window is written `at 09:00-16:00`");
                break;
            }
            r->every_at = it->start;
            r->every_span.hi = it->span.hi;
            break;
        case KPI_AT_WINDOW:
        case KPI_AT_BEST:
            r->at_span = it->span;
            if (it->kind == KPI_AT_BEST) {
                r->at_kind = KAT_BEST_TIME;
                r->best_event = it->name;
                break;
            }
            r->at_kind = KAT_WINDOW;
            r->at_days = it->days;
            r->at_start = it->start;
            r->at_end = it->end;
            if (it->start == KX_BAD_CLOCK || it->end == KX_BAD_CLOCK) {
                /* reported by the scanner */
            } else if (it->start == 1440) {
                kd_error(ps->diags, it->num_span, "K0208", "24:00 can only end a window");
                kd_hint(ps->diags, "write 00:00");
            } else if (it->start >= it->end) {
                kd_error(ps->diags, it->num_span, "K0207", "a send window must start before it ends: %02d:%02d-%02d:%02d",
                         it->start / 60, it->start % 60, it->end / 60, it->end % 60);
                kd_hint(ps->diags, "an `at` window does not wrap midnight; to allow late evenings, end it at 24:00");
            }
            break;
        case KPI_IF:
            r->if_span = it->span;
            r->if_expr = it->expr;
            break;
        case KPI_UNLESS:
            r->unless_span = it->span;
            r->unless_expr = it->expr;
            break;
        case KPI_CAP: {
            r->cap_span = it->span;
            r->cap_n = (uint32_t)it->num;
            r->cap_window = it->dur;
            break;
        }
        case KPI_PRIORITY:
            r->priority_span = it->span;
            r->priority = (int32_t)it->num;
            break;
        case KPI_VARIANT:
            r->variants[r->nvariants++] = *it->variant;
            break;
        case KPI_RETRIGGER:
            r->retrigger_span = it->span;
            if (!strcmp(it->name.s, "restart")) r->retrigger = KRT_RESTART;
            else if (!strcmp(it->name.s, "keep")) r->retrigger = KRT_KEEP;
            else {
                kd_error(ps->diags, it->name.span, "K0220", "unknown retrigger mode `%s`", it->name.s);
                kd_hint(ps->diags, "write `on retrigger restart` or `on retrigger keep`");
            }
            break;
        case KPI_ON_CHANNELS:
            if (prev && prev->kind == KPI_CAP) {
                kd_error(ps->diags, it->span, "K0210", "a rule's `cap` has no `on CHANNELS`");
                kd_hint(ps->diags, "this `cap` is indented, so it is a clause of the rule above; a top-level cap (`cap N per D on CHANNELS`) starts in column 1");
            } else {
                kd_error(ps->diags, it->span, "K0210", "`on CHANNELS` is not a rule clause");
                kd_hint(ps->diags, "a rule takes `on retrigger restart|keep`; `on CHANNELS` follows a top-level `cap`, `quiet` or `require consent`");
            }
            break;
        }
        chain_open = opens_chain;
        fix_in_lists(ps, it->expr);
    }
    if (pending_then) {
        kd_error(ps->diags, pending_then->span, "K0206", "`then %s` needs a delay", pending_then->name.s);
        kd_hint(ps->diags, "a reminder is `then CHANNEL after DURATION`, e.g. `then %s after 24h`",
                pending_then->name.s);
    }
    return d;
}

/* Walks an expression and expands the weekday chains of ranges in `in`
 * lists into separate items. */
static void fix_in_lists(KParse *ps, KExpr *e)
{
    if (!e) return;
    if (e->kind == KEX_IN) {
        uint32_t n = 0;
        for (uint32_t i = 0; i < e->nargs; i++) {
            KExpr *x = e->args[i];
            if (x->kind == KEX_WEEKDAY) for (; x; x = x->b) n++;
            else n++;
        }
        if (n != e->nargs) {
            KExpr **v = kp_alloc(ps, n * sizeof *v);
            uint32_t k = 0;
            for (uint32_t i = 0; i < e->nargs; i++) {
                KExpr *x = e->args[i];
                if (x->kind == KEX_WEEKDAY) {
                    while (x) { KExpr *nx = x->b; x->b = NULL; v[k++] = x; x = nx; }
                } else v[k++] = x;
            }
            e->args = v;
            e->nargs = k;
        }
        fix_in_lists(ps, e->a);
        for (uint32_t i = 0; i < e->nargs; i++) fix_in_lists(ps, e->args[i]);
        return;
    }
    if (e->kind == KEX_WEEKDAY) return;
    fix_in_lists(ps, e->a);
    fix_in_lists(ps, e->b);
    for (uint32_t i = 0; i < e->nargs; i++) fix_in_lists(ps, e->args[i]);
    fix_in_lists(ps, e->where);
    fix_in_lists(ps, e->within);
}

/* ---- entry point ---------------------------------------------------------------- */

KFile *kp_parse(KArena *arena, KSources *sources, uint32_t src, KDiags *diags)
{
    KFile *f = ka_alloc(arena, sizeof *f);
    if (!f) {
        kd_error(diags, ((KSpan){ src, 0, 0 }), "K0002", "out of memory");
        static KFile empty;     /* constant fallback: never written */
        return &empty;
    }
    f->src = src;
    KParse *ps = calloc(1, sizeof *ps);
    if (!ps) {
        kd_error(diags, ((KSpan){ src, 0, 0 }), "K0002", "out of memory");
        return f;
    }
    ps->arena = arena;
    ps->sources = sources;
    ps->diags = diags;
    ps->src = src;
    ps->text = sources->v[src].text;
    ps->len = sources->v[src].len;
    if (setjmp(ps->fatal) == 0) {
        if (kx_scan_begin(ps) != 0) {
            kd_error(diags, ((KSpan){ src, 0, 0 }), "K0002", "out of memory");
        } else {
            yyparse(ps->scanner, ps);
            /* let bodies and other expressions outside rules */
            for (KDecl *d = ps->first; d; d = d->next)
                if (d->kind == KDECL_LET) fix_in_lists(ps, d->let.value);
            f->decls = ps->first;
            if (ps->ncomments) {
                f->comments = kp_alloc(ps, ps->ncomments * sizeof *f->comments);
                memcpy(f->comments, ps->comments, ps->ncomments * sizeof *f->comments);
                f->ncomments = ps->ncomments;
            }
        }
    } else {
        kd_error(diags, ((KSpan){ src, ps->off, ps->off }), "K0002", "out of memory");
        f->decls = NULL;
        f->comments = NULL;
        f->ncomments = 0;
    }
    if (ps->scanner) kx_scan_end(ps->scanner);
    free(ps->comments);
    free(ps);
    return f;
}
