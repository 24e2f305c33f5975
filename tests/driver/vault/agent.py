# Asks the forwarded SSH agent for its identities and prints how many it holds
# and their comments: proof that the build reached the client's agent.
import os
import socket
import struct

agent = socket.socket(socket.AF_UNIX)
agent.connect(os.environ["SSH_AUTH_SOCK"])
agent.sendall(struct.pack(">IB", 1, 11))  # SSH2_AGENTC_REQUEST_IDENTITIES


def read(n):
    data = b""
    while len(data) < n:
        chunk = agent.recv(n - len(data))
        if not chunk:
            raise SystemExit("the agent closed the connection")
        data += chunk
    return data


(length,) = struct.unpack(">I", read(4))
body = read(length)
if body[0] != 12:  # SSH2_AGENT_IDENTITIES_ANSWER
    raise SystemExit(f"unexpected agent answer {body[0]}")
(count,) = struct.unpack(">I", body[1:5])
offset, comments = 5, []
for _ in range(count):
    (blob,) = struct.unpack(">I", body[offset:offset + 4])
    offset += 4 + blob
    (size,) = struct.unpack(">I", body[offset:offset + 4])
    comments.append(body[offset + 4:offset + 4 + size].decode())
    offset += 4 + size
print(count, *comments)
