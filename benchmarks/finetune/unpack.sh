# Sourced by distill.sh and explore.sh (needs $sdists and $work): unpack an sdist into $work once, and remove
# the test paths given after its stem, so that every function has something left to cover.
unpack() { # sdist stem, then the test paths to remove
  local stem=$1; shift
  [ -d "$work/$stem" ] || tar xzf "$sdists/$stem.tar.gz" -C "$work"
  for t in "$@"; do rm -rf "${work:?}/$stem/$t"; done
}
