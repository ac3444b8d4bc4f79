diff report/old.kai report/new.kai report/bad.csv -o report/no-such-dir/out.txt; echo "exit $?"; ls report | grep -c '^out' || true
