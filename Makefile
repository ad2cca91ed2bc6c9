# SPDX-License-Identifier: Apache-2.0
# kanri - `make` builds build/kanri; `make test` builds with ASan+UBSan and
# runs every suite; `make run` starts kanri on ./data (SQLite).

PKGS    := libmicrohttpd jansson libsodium sqlite3 libpq xlsxwriter
CC      ?= cc
OPT     ?= -O2
ifeq ($(SAN),1)
BUILD   ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT     := -O1
else
BUILD   ?= build
SANFLAGS :=
endif

CFLAGS  := -std=c11 -g $(OPT) -Wall -Wextra -Werror -Wshadow -Wvla -Wformat=2 \
           -Wno-unused-parameter -fno-strict-aliasing -pthread -Isrc -I$(BUILD)/gen \
           $(shell pkg-config --cflags $(PKGS)) $(SANFLAGS) $(EXTRA_CFLAGS)
LDLIBS  := $(shell pkg-config --libs $(PKGS)) -pthread -lm
LDFLAGS := $(SANFLAGS)

SRCS    := $(sort $(shell find src -name '*.c' ! -name main.c))
OBJS    := $(SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/embedded.o
TSRCS   := $(sort $(wildcard tests/unit/*.c))
TOBJS   := $(TSRCS:%.c=$(BUILD)/obj/%.o)
EMBED   := $(sort $(wildcard schema/*.json))

.PHONY: all test check unit run clean bench
all: $(BUILD)/kanri

$(BUILD)/kanri: $(BUILD)/obj/src/main.o $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/unit: $(TOBJS) $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/obj/gen/embedded.o: $(BUILD)/gen/embedded.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The web UI: web/src bundled by esbuild (web/build.mjs) into web/dist, whose
# files are compiled into the binary beside the declarations. npm comes from
# scripts/install-deps; the packages are pinned by web/package-lock.json.
WEB     := $(wildcard web/package.json)
WEBSRCS := $(if $(WEB),$(sort $(shell find web/src -type f 2>/dev/null)) web/build.mjs \
	   web/package.json web/package-lock.json)

web/dist/.built: $(WEBSRCS)
	@command -v npm >/dev/null || { echo "npm builds the web UI: run scripts/install-deps first"; exit 1; }
	cd web && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run --silent build
	touch $@

$(BUILD)/gen/embedded.c: $(BUILD)/embed $(EMBED) $(if $(WEB),web/dist/.built)
	@mkdir -p $(dir $@)
	$(BUILD)/embed $(EMBED) $(if $(WEB),$$(find web/dist -type f ! -name .built | LC_ALL=C sort)) \
		> $@.tmp && mv $@.tmp $@

$(BUILD)/embed: tools/embed.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O1 -Wall -Wextra -Werror -o $@ $<

# The whole suite (unit + API), under AddressSanitizer and UBSan.
test:
	$(MAKE) SAN=1 $(if $(BUILD_SAN),BUILD=$(BUILD_SAN)) build-san/kanri build-san/unit
	KANRI_BIN=build-san/kanri KANRI_UNIT=build-san/unit tests/run

# The same suite on the optimised build.
check: $(BUILD)/kanri $(BUILD)/unit
	KANRI_BIN=$(BUILD)/kanri KANRI_UNIT=$(BUILD)/unit tests/run

run: $(BUILD)/kanri
	@test -d data || $(BUILD)/kanri init --data data
	$(BUILD)/kanri serve --data data --listen 127.0.0.1:8080

bench: $(BUILD)/kanri
	bench/run

clean:
	rm -rf build build-san

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
