" Kairos policies: *.kai
autocmd BufRead,BufNewFile *.kai setfiletype kairos
