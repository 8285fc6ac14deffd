// The golden corpus (issue 27 §2): shell snippets as real-world RUN lines use them. The interop
// suite runs each with the real busybox 1.36 of the Alpine 3.20 minirootfs under chroot and
// checks (or, with OCIMAKE_GOLDEN_UPDATE=1, records) busybox-1.36.json: stdout, exit status and
// the files left in the case's own directory. `npm test` replays every case through the native
// interpreter and must give the same. `refused`: native RUN refuses the case (it would have to
// execute a program); the replay checks that it is refused, never that it half-works.

export interface GoldenCase { name: string; script: string; refused?: true }

export const GOLDEN_CASES: GoldenCase[] = [
  // the shell
  { name: 'echo-quoting', script: `x='a  b'; echo $x "$x" '$x' "\\$x" a\\ b` },
  { name: 'echo-flags', script: `echo -n one; echo -e 'two\\tthree'; echo -- -n` },
  { name: 'printf-formats', script: `printf '%s-%d-%05.1f-%x-%o-%c|\\n' str 42 3.14159 255 8 xyz; printf '%-5s|%5s|\\n' ab cd` },
  { name: 'printf-dashdash-b', script: `printf -- '%b' 'a\\nb' > f; printf '%s\\n' a b c` },
  { name: 'printf-reuse', script: `printf '%s=%s\\n' a 1 b 2 c` },
  { name: 'param-default', script: `unset u; e=; echo "\${u-d1} \${u:-d2} \${e-d3} \${e:-d4} \${u+a1} \${e+a2} \${e:+a3}"; echo \${v:=set} $v` },
  { name: 'param-trim', script: `p=/usr/local/lib/file.tar.gz; echo \${p#*/} \${p##*/} \${p%.*} \${p%%.*} \${#p}` },
  { name: 'param-replace', script: `v=a-b-c; echo \${v/-/_} \${v//-/_}` },
  { name: 'param-classes', script: `v=abc123def; echo \${v##*[[:alpha:]]} \${v%%[0-9]*} \${v#[!a]}` },
  { name: 'arith', script: `i=5; echo $((i*2+1)) $((i/2)) $((i%3)) $((i>3)) $((i==5)) $((-i)) $(( (i+1)*2 ))` },
  { name: 'arith-increment', script: `i=0; while [ $i -lt 5 ]; do i=$((i+1)); done; echo $i` },
  { name: 'for-loop', script: `for f in a b c; do echo "item $f"; done; for g in; do echo never; done; echo end` },
  { name: 'for-glob', script: `touch b.txt a.txt c.log; for f in *.txt; do echo $f; done; echo *.none` },
  { name: 'case', script: `for w in apple banana cherry 42; do case $w in a*) echo A;; b*|c*) echo BC;; [0-9]*) echo N;; *) echo other;; esac; done` },
  { name: 'if-elif', script: `x=2; if [ $x -eq 1 ]; then echo one; elif [ $x -eq 2 ]; then echo two; else echo many; fi` },
  { name: 'and-or', script: `true && echo t1; false && echo f1; false || echo f2; true || echo t2; ! false && echo neg` },
  { name: 'subshell-status', script: `(exit 3); echo $?; (cd /; pwd); pwd` },
  { name: 'functions', script: `greet() { echo "hi $1 ($#)"; return 4; }; greet you there; echo $?` },
  { name: 'set-e', script: `set -e; echo before; false; echo after` },
  { name: 'set-e-conditions', script: `set -e; if false; then :; fi; false || true; ! true; echo survived` },
  { name: 'pipefail', script: `set -o pipefail; false | true; echo $?; set +o pipefail; false | true; echo $?` },
  { name: 'pipe-status', script: `echo hi | false; echo $?; false | echo piped; echo $?` },
  { name: 'cmd-subst', script: `x=$(echo hello; echo world); echo "$x"; y=\`echo old\`; echo $y; echo "$(printf 'a\\n\\n\\n')|"` },
  { name: 'heredoc', script: `n=5; cat <<EOF > f\nvalue $n\n\\$literal\nEOF\ncat <<'EOF' >> f\nraw $n\nEOF\ncat f` },
  { name: 'redirects', script: `echo one > f; echo two >> f; cat < f; echo err 1>&2; ls nosuch 2>/dev/null || echo missing` },
  { name: 'field-splitting', script: `IFS=:; v=a:b::c; for p in $v; do echo "[$p]"; done` },
  { name: 'positional', script: `set -- a 'b c' d; echo $#; for a in "$@"; do echo "<$a>"; done; shift; echo $1` },
  { name: 'test-ops', script: `touch f; mkdir d; ln -s f l; for t in "-f f" "-d d" "-e nope" "-L l" "-s f" "-z ''" "-n x" "a = a" "a != a" "3 -lt 10" "3 -ge 10"; do eval "[ $t ]" && echo "yes $t" || echo "no $t"; done` },
  { name: 'bracket-compound', script: `[ -d /etc ] && [ ! -e /nope ] && echo ok; test 1 -eq 1 -a 2 -eq 2 && echo both` },
  { name: 'while-read-loop', script: `printf 'a 1\\nb 2\\n' > f; i=0; for l in $(cat f); do i=$((i+1)); done; echo $i` },
  { name: 'export-env', script: `export A=1; B=2 env | grep -E '^(A|B)=' | sort` },
  { name: 'exit-status-127', script: `bash -c true; echo $?; sh -c 'exit 3'; echo $?` },
  { name: 'read', script: `printf 'x y z\\n' | { read a b; echo "[$b] [$a]"; }; printf 'l1\\nl2\\nlast' | while read -r l; do echo "<$l>"; done; echo 'a\\\\b' | { read v; echo "$v"; }; echo 'a\\\\b' | { read -r v; echo "$v"; }; printf 'k=v\\n' | { IFS== read k v; echo "$k:$v"; }; read nothing < /dev/null; echo $?` },
  { name: 'while-read-file', script: `printf 'one 1\\ntwo 2\\n' > f; while read name n; do echo "$n=$name"; done < f; cat f | while read x; do echo "got $x"; break; done` },
  { name: 'break-continue', script: `for i in 1 2 3 4 5; do [ $i = 2 ] && continue; [ $i = 4 ] && break; echo $i; done; for a in x y; do for b in 1 2; do [ $b = 2 ] && continue 2; echo $a$b; done; done; break; echo after` },
  { name: 'source', script: `echo 'V=sourced; f() { echo "in f $1"; }' > lib.sh; . ./lib.sh; echo $V; f arg; echo 'return 7; echo no' > r.sh; . ./r.sh; echo $?` },
  { name: 'command-builtin', script: `command -v ls; command -v cd; command -v nosuch; echo $?; ls() { echo fn; }; ls; command ls -d /; f() { :; }; command -v f` },
  { name: 'exec-trap', script: `trap 'echo trapped $?' EXIT; echo body; (exit 4); sh -c 'exec echo from-exec; echo never'` },
  { name: 'wait', script: `wait; echo $?` },
  // files
  { name: 'mkdir-p-mode', script: `mkdir -p a/b/c; mkdir -m 700 priv; mkdir -p a/b; mkdir -pv a/x/y; mkdir -v z; mkdir -pv $PWD/abs/q` },
  { name: 'touch-ln', script: `touch f; ln -s f soft; ln f hard; ln -sf other soft; ls` },
  { name: 'cp-mv-rm', script: `echo x > a; cp a b; mkdir d; cp a b d/; mv b c; rm a; rm -rf d/b; ls; ls d` },
  { name: 'cp-r', script: `mkdir -p src/sub; echo 1 > src/sub/f; cp -r src dst; cp -a src dst2; find dst dst2 | sort` },
  { name: 'chmod', script: `touch a b c; chmod 755 a; chmod u+x,go-r b; chmod a=r c` },
  { name: 'chmod-recursive', script: `mkdir -p d/e; touch d/e/f; chmod -R 700 d` },
  { name: 'umask', script: `umask 077; touch private; mkdir pdir; umask` },
  { name: 'rm-errors', script: `rm nothere; echo $?; rm -f nothere; echo $?; mkdir d; rm d; echo $?; rmdir d; echo $?` },
  { name: 'install-d', script: `install -d -m 750 a/b; install -m 644 /etc/hostname a/h 2>/dev/null || echo x > a/h; install -D /etc/alpine-release deep/dir/rel` },
  { name: 'remove-remake', script: `mkdir -p d/a/b; touch d/a/b/f d/x; rm -rf d/a; mkdir d/a; touch d/a/g; find d | sort; ls d; rm d/x; ls d; rm -r d/a; mkdir -p d/a/b/c; find d | sort` },
  { name: 'find', script: `mkdir -p a/b; touch a/x.txt a/b/y.txt a/b/z.log; find . -name '*.txt' | sort; find a -type d | sort; find a -type f -name '*.log'` },
  { name: 'install-long', script: `install --verbose --directory --owner nobody --group nobody --mode 1777 spool; install --mode=0600 /etc/alpine-release rel; install -v /etc/alpine-release r2` },
  // text
  { name: 'cat-head-tail', script: `printf '1\\n2\\n3\\n4\\n5\\n' > f; head -n 2 f; tail -n 2 f; head -c 3 f; echo; tail -n +4 f; cat -n f 2>/dev/null | head -1` },
  { name: 'sed-basic', script: `printf 'foo bar\\nbaz foo\\n' > f; sed 's/foo/X/' f; sed 's/foo/X/g' f; sed -n '2p' f; sed '1d' f; sed -e 's/a/A/' -e 's/b/B/' f` },
  { name: 'sed-inplace', script: `printf 'key=old\\nother=1\\n' > conf; sed -i 's/^key=.*/key=new/' conf; sed -i '/other/d' conf; cat conf` },
  { name: 'sed-ere-groups', script: `echo 'v1.2.3' | sed -E 's/v([0-9]+)\\.([0-9]+).*/\\2.\\1/'; echo 'abc' | sed 's/\\(b\\)/[\\1]/'; echo aaa | sed 's/a*/x/'` },
  { name: 'sed-addresses', script: `printf 'a\\nb\\nc\\nd\\n' > f; sed -n '/b/,/c/p' f; sed '$d' f; sed '2,3s/^/>/' f` },
  { name: 'grep', script: `printf 'alpha\\nBeta\\ngamma\\n' > f; grep a f; grep -i beta f; grep -v a f; grep -c a f; grep -q zeta f; echo $?; grep -E 'al|ga' f; grep -w alpha f` },
  { name: 'sed-alternation-words', script: `echo 'foo=1 bar=2' | sed -E 's/(foo|bar)=/\\1:/g'; echo 'x y' | sed 's/x\\|y/z/g'` },
  { name: 'grep-files', script: `echo a > x; echo b > y; echo a >> y; grep a x y; grep -c a x y; grep -l b x y; grep -n a y; grep -h a x y; grep a x nosuch; echo $?` },
  { name: 'apk-print-arch', script: `apk --print-arch` },
  { name: 'cut-tr', script: `echo 'a:b:c' | cut -d: -f2; echo 'a:b:c' | cut -d: -f1,3; echo hello | tr a-z A-Z; echo 'a  b' | tr -s ' '; echo abc | tr -d b` },
  { name: 'sort-uniq-wc', script: `printf 'b\\na\\nc\\na\\n' > f; sort f; sort -u f; sort -r f; sort f | uniq -c; wc -l < f; wc -w f; printf '10\\n9\\n100\\n' | sort -n` },
  { name: 'basename-dirname', script: `basename /a/b/c.txt; basename /a/b/c.txt .txt; dirname /a/b/c.txt; dirname c; basename /` },
  { name: 'checksums', script: `printf abc > f; sha256sum f; md5sum f; sha1sum f; sha256sum f > f.sum; sha256sum -c f.sum` },

  // d/f, d/link -> f, d/x (0755): `tar --owner=0 --group=0 --mtime=@0 -cf - d | xz -9e | base64 -w0`
  { name: 'tar-xz', script: `echo /Td6WFoAAATm1rRGAgAhARwAAAAQz1jM4Cf/AJVdADILvBunjDRE4cIHdej848CSZS+3Jmd2Zb4tRKaJOR6WteujLw/AFPzpeETPhHvv/m+tu/kb3OeWfIiQXoCHsbhV+ifzHLzfELCGmqKvfALVftCseaDQ5oPO4sytXH65fxvKJSGxLzKwBR0lXA3rYBQwKWTrpt++iLP3vzm4F7ifCOQek8rvXOs7KK3xX3nJ4EYt+1LgAAAAAG4a8Qe3TY0sAAGxAYBQAAA2pUauscRn+wIAAAAABFla | base64 -d > t.txz; tar -xJf t.txz; cat d/f; tar -xf t.txz -O d/f; tar -tJf t.txz; rm t.txz` },
  { name: 'env-printenv', script: `X=1 printenv X; env -i Y=2 env` },
  { name: 'expr', script: `expr 1 + 2; expr 7 / 2 \\* 3; expr length abc; expr substr hello 2 3; expr index hello l; expr abc : 'a\\(.\\)'; expr abc : 'a.'; expr 3 \\< 10; expr b \\< a; echo $?; expr 0 \\| ''; echo $?; expr 5 \\& 0; i=$(expr $i + 1); echo $i` },
  { name: 'applets', script: `echo abc | egrep 'b|x'; echo 'a.c' | fgrep .; which ls sh nosuch; echo $?; ln -s /etc/alpine-release rel; readlink rel; readlink -f rel; realpath /bin/../etc/./hostname 2>/dev/null || realpath /etc; touch u; unlink u; ls` },
  { name: 'base64', script: `printf 'hello world' | base64; printf 'aGVsbG8=' | base64 -d; echo; head -c 100 /etc/passwd | base64 | head -1 | wc -c; printf abc | base64 -w 2` },
  { name: 'seq', script: `seq 3; seq 2 4; seq 1 2 7; seq -s , 3; seq -w 8 10; seq 5 1; seq 3 -1 1; for i in $(seq 1 3); do printf $i; done; echo` },
  { name: 'nproc-getconf', script: `[ $(nproc) -ge 1 ] && echo cpus; [ $(getconf _NPROCESSORS_ONLN) -ge 1 ] && echo online; getconf LONG_BIT; getconf PAGESIZE` },
  // users
  { name: 'adduser-system', script: `addgroup -S redis && adduser -S -G redis -u 999 redis; grep redis /etc/passwd /etc/group` },
  { name: 'adduser-D', script: `adduser -D -h /opt/app -s /bin/false app; grep app /etc/passwd; id app` },
  { name: 'id-whoami', script: `id -u; id -g; whoami; id -un` },
  // refused by native RUN today: it would have to execute a program, or compress as busybox's own
  // deflate does (a layer would hold other bytes than a real build's)
  { name: 'awk-print', script: `echo 'a b c' | awk '{print $2}'`, refused: true },
  { name: 'gzip', script: `echo hello > f; gzip f; ls; gunzip f.gz; cat f; echo again | gzip -c | zcat`, refused: true },
  { name: 'tar-create', script: `mkdir -p d/e; echo 1 > d/e/f; tar -czf t.tgz d; rm -rf d; tar -xzf t.tgz; cat d/e/f; tar -tzf t.tgz | sort`, refused: true },
  { name: 'sed-alternation-longest', script: `echo ab | sed -E 's/a|ab/X/'; echo xyz | sed -E 's/(x|xy)(z|yz)/[\\1,\\2]/'`, refused: true },
  { name: 'grep-o', script: `echo ab | grep -o 'a\\|ab'`, refused: true },
];
