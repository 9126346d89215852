#!/bin/sh
# make dist: for each architecture named, a static binary tarball and a
# Debian package in dist/, both named with the Debian form of VERSION:
#   dist/nat64br_<version>_linux_<goarch>.tar.gz  binary, README, LICENSE
#                                                 (if any), example
#                                                 configuration, unit,
#                                                 sysusers.d entry
#   dist/nat64br_<version>_<debarch>.deb          nfpm (go tool nfpm) over a
#                                                 staged make install
# Usage: VERSION=$(git describe ...) GO=go contrib/dist.sh amd64 arm64 ...
# ARMv7 (GOARM=7) for arm, soft-float for mipsle (GOMIPS=softfloat, which
# runs on MIPS with or without an FPU).
set -eu
cd "$(dirname "$0")/.."
GO=${GO:-go}
raw=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
MAINTAINER=${MAINTAINER:-nat64br maintainers <maintainers@nat64br.invalid>}

# debversion turns git describe into a Debian version: v0.1.0 -> 0.1.0,
# v0.1.0-3-gabc1234 -> 0.1.0+3.gabc1234, a bare hash abc1234 ->
# 0.0.0~gitabc1234, a pre-release v0.2.0-rc1 -> 0.2.0~rc1, and -dirty ->
# +dirty (a ~ sorts before what it follows, a + after).
debversion() {
	v=${1#v}
	dirty=
	case $v in *-dirty) v=${v%-dirty} dirty=+dirty ;; esac
	case $v in
	[0-9]*.*) v=$(printf '%s' "$v" | sed -e 's/-\([0-9][0-9]*\)-g\([0-9a-f]*\)$/+\1.g\2/' -e 's/-/~/g') ;;
	*) v=0.0.0~git$(printf '%s' "$v" | tr -c 'A-Za-z0-9.+~\n' '.') ;;
	esac
	printf '%s%s\n' "$v" "$dirty"
}
version=$(debversion "$raw")
# The date of the last commit: the archives' timestamps and the
# changelog's, so that a build of one commit gives the same files.
epoch=$(git log -1 --format=%ct 2>/dev/null || date +%s)

# The years of the history, for the copyright notice.
first=$(git log --reverse --format=%cd --date=format:%Y 2>/dev/null | head -1)
last=$(LC_ALL=C date -u -d "@$epoch" +%Y)
years=${first:-$last}
[ "$years" = "$last" ] || years=$years-$last

# The license, for the copyright file and the package's header.
license=unknown
if [ -f LICENSE ]; then
	if grep -q 'Apache License' LICENSE; then license=Apache-2.0
	elif grep -q 'Permission is hereby granted' LICENSE; then license=Expat
	elif grep -q 'Redistribution and use in source and binary forms' LICENSE; then license=BSD-3-clause
	elif grep -q 'GNU GENERAL PUBLIC LICENSE' LICENSE && grep -q 'Version 3' LICENSE; then license=GPL-3+
	elif grep -q 'GNU GENERAL PUBLIC LICENSE' LICENSE; then license=GPL-2+
	elif grep -q 'Mozilla Public License' LICENSE; then license=MPL-2.0
	else license=other
	fi
fi

# The man page and the shell completions, written by a binary of this
# machine from the command table (they are the same for every
# architecture).
gen=$(mktemp -d)
"$GO" build -o "$gen/nat64br" ./cmd/nat64br
"$gen/nat64br" man | gzip -9n > "$gen/nat64br.8.gz"
"$gen/nat64br" completion bash > "$gen/nat64br.bash"
"$gen/nat64br" completion zsh > "$gen/_nat64br"
"$gen/nat64br" completion fish > "$gen/nat64br.fish"

mkdir -p dist
for goarch in "$@"; do
	case $goarch in
	amd64) debarch=amd64 ;; arm64) debarch=arm64 ;; arm) debarch=armhf ;;
	riscv64) debarch=riscv64 ;; mipsle) debarch=mipsel ;; 386) debarch=i386 ;;
	*) echo "dist: no Debian architecture for $goarch" >&2; exit 1 ;;
	esac
	echo "== linux/$goarch ($debarch) $version"
	stage=$(mktemp -d)
	bin=bin/linux_$goarch/nat64br
	env GOOS=linux GOARCH="$goarch" GOARM=7 GOMIPS=softfloat \
		make -s install GO="$GO" BIN="$bin" VERSION="$raw" DESTDIR="$stage" \
		BINDIR=/usr/sbin UNITDIR=/usr/lib/systemd/system SYSUSERSDIR=/usr/lib/sysusers.d >/dev/null

	doc=$stage/usr/share/doc/nat64br
	mkdir -p "$doc"
	{
		if [ -f LICENSE ]; then
			echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
			echo "Upstream-Name: nat64br"
			echo "Source: https://github.com/nat64br/nat64br"
			echo
			echo "Files: *"
			echo "Copyright: $years the nat64br authors"
			echo "License: $license"
			if [ "$license" = Apache-2.0 ]; then
				# Debian ships the text (lintian:
				# copyright-not-using-common-license-for-apache2).
				echo " On Debian systems, the full text of the Apache License, Version 2.0"
				echo " is in /usr/share/common-licenses/Apache-2.0."
			else
				sed -e 's/^[[:space:]]*$/./' -e 's/^/ /' LICENSE
			fi
		else
			echo "nat64br, https://github.com/nat64br/nat64br, built from $raw."
			echo
			echo "Copyright $years the nat64br authors."
			echo
			echo "The source it was built from has no LICENSE file."
		fi
	} > "$doc/copyright"
	{
		printf 'nat64br (%s) unstable; urgency=medium\n\n' "$version"
		printf '  * Built from git %s.\n\n' "$raw"
		printf ' -- %s  %s\n' "$MAINTAINER" "$(LC_ALL=C date -u -R -d "@$epoch")"
	} | gzip -9n > "$doc/changelog.gz"
	gzip -9n < README.md > "$doc/README.md.gz"
	install -D -m 0644 contrib/deb/lintian-overrides "$stage/usr/share/lintian/overrides/nat64br"
	install -D -m 0644 "$gen/nat64br.8.gz" "$stage/usr/share/man/man8/nat64br.8.gz"
	install -D -m 0644 "$gen/nat64br.bash" "$stage/usr/share/bash-completion/completions/nat64br"
	install -D -m 0644 "$gen/_nat64br" "$stage/usr/share/zsh/vendor-completions/_nat64br"
	install -D -m 0644 "$gen/nat64br.fish" "$stage/usr/share/fish/vendor_completions.d/nat64br.fish"
	find "$stage" -exec touch -h -d "@$epoch" {} +

	# The tarball: what make install would put in place, to copy by hand.
	name=nat64br_${version}_linux_$goarch
	tdir=$(mktemp -d)
	mkdir "$tdir/$name"
	cp "$bin" README.md contrib/nat64br.yaml contrib/nat64br.service contrib/nat64br.sysusers "$tdir/$name/"
	gzip -dc "$gen/nat64br.8.gz" > "$tdir/$name/nat64br.8"
	mkdir "$tdir/$name/completions"
	cp "$gen/nat64br.bash" "$gen/_nat64br" "$gen/nat64br.fish" "$tdir/$name/completions/"
	chmod 0755 "$tdir/$name/completions"
	chmod 0644 "$tdir/$name/completions"/*
	[ ! -f LICENSE ] || cp LICENSE "$tdir/$name/"
	find "$tdir/$name" -maxdepth 1 -type f -exec chmod 0644 {} +
	chmod 0755 "$tdir/$name/nat64br"
	tar -C "$tdir" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -cf - "$name" | gzip -9n > "dist/$name.tar.gz"
	rm -rf "$tdir"

	VERSION=$version DEBARCH=$debarch STAGE=$stage MAINTAINER=$MAINTAINER LICENSE_NAME=$license SOURCE_DATE_EPOCH=$epoch \
		"$GO" tool nfpm package --config contrib/nfpm.yaml --packager deb --target "dist/nat64br_${version}_$debarch.deb" >/dev/null
	rm -rf "$stage"
	ls -l "dist/$name.tar.gz" "dist/nat64br_${version}_$debarch.deb" | awk '{print "   ", $5, $NF}'
done
rm -rf "$gen"
