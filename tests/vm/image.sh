#!/usr/bin/env bash
# tests/vm/image.sh STEP - the parts of the VM, called by tests/vm/run with
# SUITE, MIRROR, EXTRA, DIR (the cache directory of this image), SRC (the
# source tree) and HERE (tests/vm) in the environment. Each step but `build`
# does nothing when its result is already in DIR.
#
#   rootfs   debootstrap SUITE (minbase + tests/vm/packages + EXTRA) into
#            DIR/rootfs, with the kernel's modules
#   kernel   the suite's cloud kernel unpacked into DIR/kernel (nothing is
#            installed on the host) and DIR/initrd.gz (busybox + virtio)
#   build    the source copied to DIR/src and built by `./pexos.sh build` in a
#            chroot of DIR/rootfs at /srv/tree (the first time, pexos.sh installs
#            its build and run-time packages there itself)
#   image    DIR/root.img, an ext4 image of DIR/rootfs
set -euo pipefail
step=$1
cd "$DIR"

# apt, pointed at the suite alone, with its own lists under DIR/apt.
APT=(-o Dir::Etc::SourceList="$DIR/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o Dir::State::Lists="$DIR/apt/lists" -o Dir::Cache="$DIR/apt/cache"
	-o APT::Sandbox::User=root)

kernel() {
	[ -f initrd.gz ] && return 0
	rm -rf kernel apt
	mkdir -p apt/lists/partial apt/cache/archives/partial kernel
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $SUITE main" \
		>apt/sources.list
	apt-get "${APT[@]}" update -qq
	local pkg
	pkg=$(apt-cache "${APT[@]}" depends linux-image-cloud-amd64 |
		awk '/Depends: linux-image-/{print $2; exit}')
	(cd apt && apt-get "${APT[@]}" download "$pkg" >/dev/null)
	dpkg-deb -x apt/"$pkg"_*.deb kernel
	initramfs
}

# busybox-static and the virtio modules (block, and net for --serve), in the
# order they depend on each other.
initramfs() {
	local mods m f ir=initramfs
	mods=$(ls -d kernel/lib/modules/*/kernel 2>/dev/null ||
		ls -d kernel/usr/lib/modules/*/kernel)
	rm -rf $ir
	mkdir -p $ir/bin $ir/proc $ir/sys $ir/dev $ir/newroot $ir/mods
	cp /bin/busybox $ir/bin/
	for c in sh mount umount insmod switch_root sleep poweroff cat; do
		ln -s busybox $ir/bin/$c
	done
	: >$ir/mods/order
	for m in drivers/virtio/virtio_ring drivers/virtio/virtio \
		drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci_modern_dev \
		drivers/virtio/virtio_pci drivers/block/virtio_blk net/core/failover \
		drivers/net/net_failover drivers/net/virtio_net; do
		f=$(ls "$mods/$m".ko* 2>/dev/null | head -1 || true)
		[ -n "$f" ] || continue # built into this kernel
		case $f in
		*.xz) xz -dc "$f" ;;
		*.zst) zstd -qdc "$f" ;;
		*) cat "$f" ;;
		esac >"$ir/mods/$(basename "$m").ko"
		basename "$m" >>$ir/mods/order
	done
	cp "$HERE/initramfs-init" $ir/init
	(cd $ir && find . | cpio -o -H newc 2>/dev/null | gzip) >initrd.gz.new
	mv initrd.gz.new initrd.gz
}

rootfs() {
	[ -f rootfs.done ] && return 0
	rm -rf rootfs
	local pkgs
	pkgs=$(grep -v '^#' "$HERE/packages" | tr -s ' \n' ',' | sed 's/^,//; s/,$//')
	[ -z "$EXTRA" ] || pkgs="$pkgs,$(echo "$EXTRA" | tr -s ' ' ',')"
	debootstrap --variant=minbase --include="$pkgs" "$SUITE" rootfs "$MIRROR" \
		>debootstrap.log 2>&1 || { tail -n 20 debootstrap.log >&2; return 1; }
	mkdir -p rootfs/srv/tree
	echo pexos-vm >rootfs/etc/hostname
	touch rootfs.done
}

# The root file system as a chroot with /proc, /dev and the source at
# /srv/tree, in a mount namespace of its own: nothing is left mounted on the
# host, whatever happens.
in_chroot() {
	cp /etc/resolv.conf rootfs/etc/resolv.conf
	unshare -m --propagation private -- sh -ec '
		mount --bind "$1/src" "$1/rootfs/srv/tree"
		mount -t proc proc "$1/rootfs/proc"
		mount --bind /dev "$1/rootfs/dev"
		shift
		exec chroot "$0" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/root LANG=C.UTF-8 "$@"' "$DIR/rootfs" "$DIR" "$@"
}

build() {
	mkdir -p src
	# Build directories and git metadata stay out; src/build is kept from
	# the previous call, so ninja rebuilds only what changed.
	rsync -a --delete --exclude='/build*' --exclude=/.git --exclude=/.vm \
		--exclude=__pycache__ "$SRC/" src/
	in_chroot /bin/bash -c 'cd /srv/tree && ./pexos.sh build'
}

image() {
	[ -f root.img ] && return 0
	# The kernel's modules, for modprobe inside (kmod is in the image).
	local ver
	ver=$(ls kernel/lib/modules 2>/dev/null || ls kernel/usr/lib/modules)
	mkdir -p rootfs/lib/modules
	cp -a kernel/lib/modules/"$ver" rootfs/lib/modules/ 2>/dev/null ||
		cp -a kernel/usr/lib/modules/"$ver" rootfs/lib/modules/
	chroot rootfs depmod -a "$ver"
	rm -f rootfs/etc/resolv.conf
	rm -rf rootfs/var/cache/apt/archives/*.deb rootfs/var/lib/apt/lists/*
	local size
	size=$(($(du -sm rootfs | cut -f1) * 3 / 2 + 1024))
	mke2fs -q -F -t ext4 -d rootfs root.img.new "${size}M" >/dev/null
	mv root.img.new root.img
}

"$step"
