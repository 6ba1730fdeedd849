# Makefile: a thin front over CMake presets (as neovim does), giving the two
# commands of README.md:
#   make run    install what is missing, build release, start ringchat
#   make test   install what is missing, build, run every test (see scripts/test.sh)
# Everything else is plain CMake: cmake --preset <release|debug|asan|tsan|fuzz>.

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
ARGS ?=

.PHONY: all deps run test release debug asan tsan fuzz bench format clean

all: release

deps:
	@bash scripts/deps.sh

release debug asan tsan fuzz: deps
	@cmake --preset $@ >/dev/null
	@cmake --build --preset $@ -j $(JOBS)

run: release
	@echo "starting ringchat (Ctrl-C stops it); extra options: make run ARGS='--port 7001'"
	@exec ./build/release/src/server/ringchat $(ARGS)

test: deps
	@bash scripts/test.sh

bench: release
	./build/release/bench/mailbox/mailbox_bench

format:
	@find src tests bench fuzz -name '*.[ch]' | xargs clang-format -i

clean:
	rm -rf build
