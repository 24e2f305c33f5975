# The leaven frontend image: one static binary, nothing else.
FROM scratch
COPY leaven /leaven
# The frontend talks to BuildKit only over stdio; it never needs a network.
LABEL moby.buildkit.frontend.network.none="true"
# What it answers besides builds: inputs from other frontends, --call
# subrequests (outline, targets, check) and named contexts. The gateway refuses
# a request needing a cap not listed here.
LABEL moby.buildkit.frontend.caps="moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts"
LABEL org.opencontainers.image.title="leaven frontend"
ENTRYPOINT ["/leaven", "frontend"]
