" Vim syntax file
" Language:   Kairos (feedback timing policies, *.kai)
" Reference:  SPEC.md 1.1 (lexical structure) and Appendix B (grammar)

if exists("b:current_syntax")
  finish
endif

" names are case-sensitive
syntax case match

" keywords (SPEC.md 1.1): declarations, clauses, logic
syntax keyword kairosDeclaration policy import timezone event survey channel let rule
syntax keyword kairosClause      ask task via then after where every at if unless priority
syntax keyword kairosClause      variant retrigger within cap per on quiet require consent best_time
syntax keyword kairosLogic       and or not no in
syntax keyword kairosBoolean     true false
syntax keyword kairosWeekday     mon tue wed thu fri sat sun
syntax keyword kairosBuiltin     now hour weekday trigger customer
syntax keyword kairosType        number string bool time
syntax match   kairosFunction    "\<\(count\|since\|last\|sum\|avg\|min\|max\|asked\|responded\)\ze\s*("

" declared names
" (a look-behind: a keyword would win a match that starts on it)
syntax match kairosRuleName  "\(\<rule\s\+\)\@<=\h\w*"
syntax match kairosDeclName  "\(\<\(event\|survey\|channel\)\s\+\)\@<=\h\w*"
syntax match kairosLetName   "\(\<let\s\+\)\@<=\h\w*"

" literals: clock times before durations before numbers
syntax match kairosNumber    "\<\d\+\(\.\d\+\)\=\>"
syntax match kairosNumber    "\<\d\+\(\.\d\+\)\=%"
syntax match kairosDuration  "\<\(\d\+[wdhms]\)\+\>"
syntax match kairosTime      "\<\d\d:\d\d\>"
syntax match kairosWeekday   "\<\(mon\|tue\|wed\|thu\|fri\|sat\|sun\)-\(mon\|tue\|wed\|thu\|fri\|sat\|sun\)\>"

" strings end on their line; \" \\ \n \t are the only escapes
syntax match  kairosEscape     contained "\\[\"\\nt]"
syntax match  kairosBadEscape  contained "\\[^\"\\nt]"
syntax region kairosString     start=+"+ skip=+\\.+ end=+"+ end=+$+ oneline contains=kairosEscape,kairosBadEscape

" comments, and the lint directive # kairos:ignore K0703 ...
syntax match  kairosCode      contained "\<K\d\{4}\>"
syntax match  kairosIgnore    contained "kairos:ignore"
syntax match  kairosComment   "#.*$" contains=kairosIgnore,kairosCode,@Spell

syntax match  kairosOperator  "==\|!=\|<=\|>=\|[<>=+*/-]"

highlight default link kairosDeclaration Keyword
highlight default link kairosClause      Statement
highlight default link kairosLogic       Operator
highlight default link kairosBoolean     Boolean
highlight default link kairosWeekday     Constant
highlight default link kairosBuiltin     Identifier
highlight default link kairosType        Type
highlight default link kairosFunction    Function
highlight default link kairosRuleName    Function
highlight default link kairosDeclName    Type
highlight default link kairosLetName     Identifier
highlight default link kairosNumber      Number
highlight default link kairosDuration    Number
highlight default link kairosTime        Number
highlight default link kairosString      String
highlight default link kairosEscape      SpecialChar
highlight default link kairosBadEscape   Error
highlight default link kairosComment     Comment
highlight default link kairosIgnore      PreProc
highlight default link kairosCode        Special
highlight default link kairosOperator    Operator

let b:current_syntax = "kairos"
