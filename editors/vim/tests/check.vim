" tests/check.vim -- run by tests/ci/run.sh in a headless Vim on
" tests/sample.kai: the file type is detected and the syntax groups at
" chosen places are the expected ones.  Writes FAIL lines and a last line
" "vim: N passed, M failed" to the file named by g:out.
let s:lines = []
let s:pass = 0
let s:fail = 0
function! s:Expect(line, text, group) abort
  let l:col = stridx(getline(a:line), a:text) + 1
  let l:got = l:col > 0 ? synIDattr(synID(a:line, l:col, 1), 'name') : '(text not found)'
  if l:got ==# a:group
    let s:pass += 1
  else
    let s:fail += 1
    call add(s:lines, printf('FAIL: vim: line %d `%s`: %s, expected %s', a:line, a:text, l:got, a:group))
  endif
endfunction

if &filetype ==# 'kairos' | let s:pass += 1
else | let s:fail += 1 | call add(s:lines, 'FAIL: vim: filetype is "' . &filetype . '"') | endif
if &commentstring ==# '# %s' | let s:pass += 1
else | let s:fail += 1 | call add(s:lines, 'FAIL: vim: commentstring is "' . &commentstring . '"') | endif

call s:Expect(1, '#', 'kairosComment')
call s:Expect(1, 'kairos:ignore', 'kairosIgnore')
call s:Expect(1, 'K0703', 'kairosCode')
call s:Expect(2, 'policy', 'kairosDeclaration')
call s:Expect(2, '"sample"', 'kairosString')
call s:Expect(3, 'ticket_closed', 'kairosDeclName')
call s:Expect(3, 'string', 'kairosType')
call s:Expect(4, 'NPS', 'kairosDeclName')
call s:Expect(4, '10', 'kairosNumber')
call s:Expect(5, 'busy', 'kairosLetName')
call s:Expect(5, 'count', 'kairosFunction')
call s:Expect(5, 'within', 'kairosClause')
call s:Expect(5, '7d', 'kairosDuration')
call s:Expect(5, '>=', 'kairosOperator')
call s:Expect(6, '20:00', 'kairosTime')
call s:Expect(6, '08:00', 'kairosTime')
call s:Expect(7, 'rule', 'kairosDeclaration')
call s:Expect(7, 'tech_csat', 'kairosRuleName')
call s:Expect(8, 'ask', 'kairosClause')
call s:Expect(8, '1h30m', 'kairosDuration')
call s:Expect(9, '24h', 'kairosDuration')
call s:Expect(9, '\"', 'kairosEscape')
call s:Expect(9, '\q', 'kairosBadEscape')
call s:Expect(9, 'and', 'kairosLogic')
call s:Expect(9, 'kind', '')
call s:Expect(10, 'mon-fri', 'kairosWeekday')
call s:Expect(11, 'since', 'kairosFunction')
call s:Expect(11, 'trigger', 'kairosBuiltin')
call s:Expect(11, 'customer', 'kairosBuiltin')
call s:Expect(11, 'true', 'kairosBoolean')
call s:Expect(12, '25%', 'kairosNumber')
call add(s:lines, printf('vim: %d passed, %d failed', s:pass, s:fail))
call writefile(s:lines, g:out)
qall!
