// The WHIP/WHEP exchange both pages share: POST the offer to `url`, keep
// the status and `Location` in `out`, apply the answer. True when the
// server answered 201; `out.error` says why not.
async function exchange(pc, url, out) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp' },
    body: pc.localDescription.sdp,
  });
  out.status = res.status;
  out.location = res.headers.get('Location');
  const answer = await res.text();
  if (res.status !== 201) {
    out.error = `POST ${url}: ${res.status} ${answer.slice(0, 200)}`;
    pc.close();
    return false;
  }
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  return true;
}

// Ends the session at `out.location` (DELETE), noting the status in `out`.
async function hangUp(url, out) {
  if (!out.location) return;
  try {
    const del = await fetch(new URL(out.location, url), { method: 'DELETE' });
    out.deleteStatus = del.status;
  } catch (e) {
    out.deleteStatus = String(e);
  }
}
