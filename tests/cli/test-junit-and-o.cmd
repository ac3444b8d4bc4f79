test -o a.xml --junit b.xml
