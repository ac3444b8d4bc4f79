help fmt
