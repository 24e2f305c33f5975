# syntax=leaven:dev
# A spec whose step reads a file secret, an environment secret and the client's
# SSH agent: tests/driver.rs builds it with leaven bake (in-process) and with
# docker buildx bake (the leaven:dev frontend), then searches the saved image
# for the secrets' values. Only their digests and the agent's answer may be kept.

variable "BASE" {
  default = "leaven-test/debian:bookworm"
}

image "vault" {
  from = BASE
  run "sha256sum /run/secrets/token | cut -d' ' -f1 > /srv-token.sha256\nprintf %s \"$VAULT_TOKEN\" | sha256sum | cut -d' ' -f1 > /srv-env.sha256\npython3 /tmp/agent.py > /srv-agent.txt" {
    secret {
      id       = "token"
      required = true
    }
    secret {
      id       = "envtok"
      env      = "VAULT_TOKEN"
      required = true
    }
    ssh {
      required = true
    }
    bind {
      source = "agent.py"
      target = "/tmp/agent.py"
    }
  }
  cmd = ["cat", "/srv-token.sha256", "/srv-env.sha256", "/srv-agent.txt"]
}
