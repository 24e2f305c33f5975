//! `leaven.mk`: the make targets a team writes by hand around compose (build,
//! up, down, logs, test, ci, bake), for the user's Makefile to include.

use std::fmt::Write;

use crate::spec::{ServiceImage, Spec, SourceMode};

use super::compose::{runs_on_start, variant_names};
use super::compose_file_name;
use super::write::GENERATED_MARK;

/// The text of `leaven.mk` for a spec whose compose files are written beside it.
pub fn makefile(spec: &Spec, spec_file: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{GENERATED_MARK} compose from {spec_file}; `leaven compose` rewrites it.");
    out.push_str(
        "# Include it from your Makefile (include leaven.mk); pick the variant with\n\
         # LEAVEN_VARIANT=dev|ci|release (default dev). The images follow your UID (HOST_UID; 1000 for root).\n",
    );
    let variants = variant_names(spec);
    let default = if variants.iter().any(|v| v == "dev") { "dev" } else { "release" };
    let _ = writeln!(out, "LEAVEN_MK := $(lastword $(MAKEFILE_LIST))");
    let _ = writeln!(out, "LEAVEN_DIR := $(dir $(LEAVEN_MK))");
    let _ = writeln!(out, "LEAVEN_VARIANT ?= {default}");
    out.push_str("LEAVEN ?= leaven\nDOCKER ?= docker\n");
    // Your ids, so what the dev container writes is yours; as root (a CI runner)
    // the spec's default, since a spec user may not be root.
    out.push_str("LEAVEN_UID := $(shell id -u)\nLEAVEN_GID := $(shell id -g)\n");
    out.push_str("export HOST_UID ?= $(if $(filter 0,$(LEAVEN_UID)),1000,$(LEAVEN_UID))\n");
    out.push_str("export HOST_GID ?= $(if $(filter 0,$(LEAVEN_UID)),1000,$(LEAVEN_GID))\n");
    let _ = writeln!(out, "LEAVEN_COMPOSE_FILE = $(LEAVEN_DIR){}", compose_file_name("$(LEAVEN_VARIANT)"));
    out.push_str("LEAVEN_COMPOSE = $(DOCKER) compose -f $(LEAVEN_COMPOSE_FILE)\n");
    // A variant that mounts the source keeps stage outputs in anonymous volumes,
    // which `up` must make anew, or a rebuilt image's static files would not show.
    for variant in spec.variants.iter().filter(|v| v.source == SourceMode::Mount) {
        let _ = writeln!(out, "LEAVEN_UP_FLAGS_{} = --renew-anon-volumes", variant.name);
    }
    out.push_str("\n.PHONY: build up down logs test ci bake\n\n");
    out.push_str("# The variant's images, through the spec's frontend (its # syntax= line).\nbuild:\n\t$(LEAVEN_COMPOSE) build\n\n");
    out.push_str("# The same images built by leaven itself, from the compose file's build sections.\nbake:\n\t$(LEAVEN) bake -f $(LEAVEN_COMPOSE_FILE) --load\n\n");
    out.push_str("# Start the stack and wait until every service is healthy.\nup:\n\t$(LEAVEN_COMPOSE) up -d --wait $(LEAVEN_UP_FLAGS_$(LEAVEN_VARIANT))\n\n");
    out.push_str("down:\n\t$(LEAVEN_COMPOSE) down\n\n");
    out.push_str("logs:\n\t$(LEAVEN_COMPOSE) logs -f\n\n");
    out.push_str(&test_target(spec));
    let ci = compose_file_name("ci");
    if variants.iter().any(|v| v == "ci") {
        let _ = writeln!(
            out,
            "\n# What CI runs: the ci images built by leaven, then the tests.\nci:\n\t$(LEAVEN) bake -f $(LEAVEN_DIR){ci} --load\n\t$(MAKE) -f $(LEAVEN_MK) test"
        );
    } else {
        let _ = writeln!(out, "\nci:\n\t@echo 'leaven.mk: the spec has no ci variant (add variant \"ci\" {{}})' >&2; exit 1");
    }
    out
}

/// `test`: the ci variant's test command in the service that runs its image's
/// start-up tasks (so the database is migrated), then the stack goes away.
fn test_target(spec: &Spec) -> String {
    let ci = spec.variant("ci");
    let command = ci.and_then(|v| v.test.as_ref());
    let service = ci.and_then(|v| {
        let of_image = |s: &&crate::spec::Service| s.image == ServiceImage::App(v.image.clone());
        spec.services.iter().filter(of_image).find(|s| runs_on_start(spec, s, &v.image)).or_else(|| spec.services.iter().find(of_image))
    });
    let (Some(command), Some(service)) = (command, service) else {
        let why = match ci {
            None => "the spec has no ci variant (add variant \"ci\" { test = [...] })",
            Some(_) if command.is_none() => "the ci variant has no test command (add test = [\"python\", \"manage.py\", \"test\"] to it)",
            Some(_) => "no service runs the ci variant's image",
        };
        return format!("test:\n\t@echo 'leaven.mk: {}' >&2; exit 1\n", why.replace('\'', "'\\''"));
    };
    let words: Vec<String> = command.iter().map(|w| make_word(w)).collect();
    let ci_file = compose_file_name("ci");
    format!(
        "# The app's tests in the ci variant, with the services they need; the stack goes away after.\n\
         test:\n\t$(DOCKER) compose -f $(LEAVEN_DIR){ci_file} run --rm {} {}; status=$$?; \\\n\
         \t$(DOCKER) compose -f $(LEAVEN_DIR){ci_file} down -v; exit $$status\n",
        service.name,
        words.join(" ")
    )
}

/// A word of a recipe line: shell-quoted when needed, `$` doubled for make.
fn make_word(word: &str) -> String {
    let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    let mut quoted = String::new();
    if plain {
        quoted.push_str(word);
    } else {
        crate::compile::push_shell_quoted(&mut quoted, word);
    }
    quoted.replace('$', "$$")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipe_words_survive_make_and_the_shell() {
        assert_eq!(make_word("manage.py"), "manage.py");
        assert_eq!(make_word("a b"), "'a b'");
        assert_eq!(make_word("$HOME"), "'$$HOME'");
        assert_eq!(make_word("it's"), "'it'\\''s'");
    }
}
