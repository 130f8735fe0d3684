// Users and API keys (docs/auth.md). Everyone sees their own account:
// activity, a new password, their API keys. Admins also list, create, edit,
// disable and delete users, and manage anyone's API keys.

import { api, currentUser, hasRole } from '../api.js';
import { h, field, fill, messageArea, pageHeader, fmtTime, fmtInt, table } from '../dom.js';

const ROLES = ['viewer', 'operator', 'admin'];

function roleSelect(value, max = 'admin', label = null) {
  const s = h('select', { name: 'role', 'aria-label': label || false },
    ROLES.filter((r) => ROLES.indexOf(r) <= ROLES.indexOf(max)).map((r) => h('option', { value: r, text: r, selected: r === value })));
  return s;
}

/** The API keys of one user: list, create (the key is shown once), revoke. */
function keysPanel(user) {
  const msg = messageArea();
  const listSlot = h('div', { class: 'table-wrap' });
  const secret = h('div', { role: 'status', 'aria-live': 'polite' });
  const name = field('Key name', h('input', { name: 'name', required: true, autocomplete: 'off', placeholder: 'e.g. frontdoor camera' }));
  const role = field('Role', roleSelect(user.role === 'admin' ? 'operator' : user.role, user.role), 'at most the user\'s role');
  const create = h('button', { type: 'submit', text: 'Create key' });
  const form = h('form', { class: 'controls', 'aria-label': `New API key for ${user.name}` }, name.wrap, role.wrap, create);

  async function load() {
    try {
      const body = await api(`/v1/users/${user.id}/apikeys`);
      const keys = body.api_keys || [];
      fill(listSlot, keys.length ? table(null, ['Name', 'Role', 'Starts with', 'Created', 'State', ''], keys.map((k) => {
        const revoke = h('button', { type: 'button', class: 'danger', text: 'Revoke', 'aria-label': `Revoke key ${k.name}`, disabled: k.revoked });
        revoke.addEventListener('click', async () => {
          if (!window.confirm(`Revoke the key "${k.name}"? Devices using it stop working at once.`)) return;
          try {
            await api(`/v1/users/${user.id}/apikeys/${k.id}`, { method: 'DELETE' });
            msg.info(`Key "${k.name}" revoked.`);
            load();
          } catch (err) {
            msg.show(err);
          }
        });
        return h('tr', { dataset: { key: k.name } }, h('td', { text: k.name }), h('td', { text: k.role }), h('td', { class: 'mono', text: k.prefix + '…' }),
          h('td', { text: fmtTime(k.created) }), h('td', { text: k.revoked ? 'revoked' : 'active' }), h('td', {}, revoke));
      })) : h('p', { class: 'muted', text: 'No API keys.' }));
    } catch (err) {
      msg.show(err);
    }
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    msg.clear();
    create.disabled = true;
    try {
      const body = await api(`/v1/users/${user.id}/apikeys`, { method: 'POST', json: { name: name.input.value.trim(), role: role.input.value } });
      const copy = h('button', { type: 'button', class: 'secondary', text: 'Copy' });
      const keyEl = h('p', { class: 'secret', dataset: { secret: 'apikey' }, text: body.key });
      copy.addEventListener('click', () => {
        navigator.clipboard.writeText(body.key).then(() => { copy.textContent = 'Copied'; }, () => { copy.textContent = 'Select and copy it'; });
      });
      fill(secret, h('div', { class: 'info' },
        h('p', {}, `The key "${body.api_key.name}". It is shown this once: store it now. Devices send it as `,
          h('code', { text: 'X-API-Key' }), ' or ', h('code', { text: 'Authorization: Bearer' }), '.'),
        keyEl, copy));
      form.reset();
      load();
    } catch (err) {
      msg.show(err);
    } finally {
      create.disabled = false;
    }
  });

  load();
  return h('div', { class: 'keys' }, h('h3', { text: `API keys of ${user.name}` }), msg.el, secret, listSlot, form);
}

/**
 * A form that changes the signed-in user's password (PUT /v1/users/{id} with
 * the current one; the sign-in page uses it for the one-time password too).
 * Problems go to msg; onChanged(newPassword) runs once the server took it,
 * which ended every session of the account and revoked its API keys.
 */
export function passwordForm(me, msg, onChanged, currentLabel = 'Current password', submitText = 'Change password') {
  const current = field(currentLabel, h('input', { type: 'password', name: 'current_password', autocomplete: 'current-password', required: true }));
  const next = field('New password', h('input', { type: 'password', name: 'password', autocomplete: 'new-password', required: true, minlength: 8 }), '8 characters or more; not your name, not a common password');
  const again = field('New password again', h('input', { type: 'password', name: 'password2', autocomplete: 'new-password', required: true }));
  const save = h('button', { type: 'submit', text: submitText });
  // the account's name, for password managers (they file the new password under it)
  const username = h('input', { type: 'text', name: 'username', autocomplete: 'username', value: me.name, hidden: true, readonly: true });
  const form = h('form', { class: 'controls', 'aria-label': 'Change your password' }, username, current.wrap, next.wrap, again.wrap, save);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    msg.clear();
    if (next.input.value !== again.input.value) {
      msg.show(new Error('The new passwords differ.'));
      return;
    }
    save.disabled = true;
    try {
      await api(`/v1/users/${me.id}`, { method: 'PUT', json: { password: next.input.value, current_password: current.input.value } });
      const password = next.input.value;
      form.reset();
      await onChanged(password);
    } catch (err) {
      msg.show(err);
    } finally {
      save.disabled = false;
    }
  });
  return form;
}

function accountPanel(me) {
  const msg = messageArea();
  const activity = h('dl', { class: 'meta' });
  const form = passwordForm(me, msg, () => msg.info('Password changed. Every session of this account ends (sign in again) and its API keys are revoked.'));
  api(`/v1/users/${me.id}/profile`).then((p) => {
    const a = p.activity || {};
    fill(activity,
      h('dt', { text: 'Name' }), h('dd', { text: p.user.name }),
      h('dt', { text: 'Email' }), h('dd', { text: p.user.email || '—' }),
      h('dt', { text: 'Role' }), h('dd', { text: p.user.role }),
      h('dt', { text: 'Detections' }), h('dd', { text: `${fmtInt(a.detections)} (${fmtInt(a.objects)} objects)` }),
      h('dt', { text: 'Feedback given' }), h('dd', { text: fmtInt(a.feedback) }),
      h('dt', { text: 'Sign-ins' }), h('dd', { text: fmtInt(a.logins) }),
      h('dt', { text: 'Last sign-in' }), h('dd', { text: fmtTime(a.last_login) }));
  }).catch((err) => msg.show(err));
  return h('div', { class: 'panel' }, h('h2', { text: 'Your account' }), msg.el, activity,
    h('h3', { text: 'Password' }), form, keysPanel(me));
}

function adminPanel() {
  const msg = messageArea();
  const listSlot = h('div', { class: 'table-wrap' });
  const keysSlot = h('div');
  const name = field('Name', h('input', { name: 'name', required: true, autocomplete: 'off' }));
  const email = field('Email', h('input', { name: 'email', type: 'email', autocomplete: 'off' }), 'optional');
  const password = field('Password', h('input', { name: 'password', type: 'password', required: true, minlength: 8, autocomplete: 'new-password' }), '8 characters or more');
  const role = field('Role', roleSelect('operator'));
  const create = h('button', { type: 'submit', text: 'Create user' });
  const form = h('form', { class: 'controls', 'aria-label': 'New user' }, name.wrap, email.wrap, password.wrap, role.wrap, create);

  async function load() {
    let body;
    try {
      body = await api('/v1/users');
    } catch (err) {
      msg.show(err);
      return;
    }
    fill(listSlot, table(`${body.count} user${body.count === 1 ? '' : 's'}`, ['Name', 'Email', 'Role', 'Enabled', 'Created', 'Actions'], body.users.map((u) => {
      const rs = roleSelect(u.role, 'admin', `Role of ${u.name}`);
      const enabledId = `user-enabled-${u.id}`;
      const enabled = h('input', { type: 'checkbox', id: enabledId, checked: !u.disabled, 'aria-label': `${u.name} may sign in` });
      const save = h('button', { type: 'button', class: 'secondary', text: 'Save', 'aria-label': `Save ${u.name}` });
      const keys = h('button', { type: 'button', class: 'secondary', text: 'API keys', 'aria-label': `API keys of ${u.name}` });
      const del = h('button', { type: 'button', class: 'danger', text: 'Delete', 'aria-label': `Delete ${u.name}` });
      save.addEventListener('click', async () => {
        msg.clear();
        try {
          await api(`/v1/users/${u.id}`, { method: 'PUT', json: { role: rs.value, disabled: !enabled.checked } });
          msg.info(`${u.name} saved.`);
          load();
        } catch (err) {
          msg.show(err);
        }
      });
      keys.addEventListener('click', () => {
        fill(keysSlot, keysPanel(u));
        keysSlot.querySelector('h3').scrollIntoView({ block: 'nearest' });
      });
      del.addEventListener('click', async () => {
        if (!window.confirm(`Delete the user "${u.name}"? Their sessions and API keys stop working.`)) return;
        msg.clear();
        try {
          await api(`/v1/users/${u.id}`, { method: 'DELETE' });
          msg.info(`${u.name} deleted.`);
          keysSlot.replaceChildren();
          load();
        } catch (err) {
          msg.show(err);
        }
      });
      return h('tr', { dataset: { user: u.name } }, h('td', { text: u.name }), h('td', { text: u.email || '—' }), h('td', {}, rs),
        h('td', {}, enabled), h('td', { text: fmtTime(u.created) }), h('td', {}, h('div', { class: 'buttons' }, save, keys, del)));
    })));
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    msg.clear();
    create.disabled = true;
    const body = { name: name.input.value.trim(), password: password.input.value, role: role.input.value };
    if (email.input.value.trim()) body.email = email.input.value.trim();
    try {
      const u = await api('/v1/users', { method: 'POST', json: body });
      msg.info(`User ${u.name} created (id ${u.id}).`);
      form.reset();
      load();
    } catch (err) {
      msg.show(err);
    } finally {
      create.disabled = false;
    }
  });

  load();
  return h('div', { class: 'panel' }, h('h2', { text: 'Users' }), msg.el, listSlot, h('h3', { text: 'New user' }), form, keysSlot);
}

export function render(section) {
  const me = currentUser();
  fill(section,
    pageHeader(hasRole('admin') ? 'Users' : 'Account', hasRole('admin') ? 'Accounts, roles and API keys.' : 'Your account and API keys.'),
    hasRole('admin') ? adminPanel() : null,
    accountPanel(me));
  return null;
}
