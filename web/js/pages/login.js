// Sign-in: POST /v1/auth/login with a user name (or email) and password;
// and the one-time password of the first admin, replaced before anything else.

import { currentUser, login } from '../api.js';
import { h, field, messageArea } from '../dom.js';
import { passwordForm } from './users.js';

export function render(main, ctx) {
  const msg = messageArea();
  const user = field('User name or email', h('input', { name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' }));
  const pass = field('Password', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true }));
  const rememberId = 'remember-me';
  const remember = h('input', { type: 'checkbox', id: rememberId, name: 'remember' });
  const submit = h('button', { type: 'submit', text: 'Sign in' });

  const form = h('form', { class: 'panel', 'aria-labelledby': 'login-title' },
    user.wrap, pass.wrap,
    h('div', { class: 'check' }, remember, h('label', { for: rememberId, text: 'Keep me signed in on this browser' })),
    submit);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    msg.clear();
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    try {
      await login(user.input.value.trim(), pass.input.value, remember.checked);
      ctx.done();
    } catch (err) {
      msg.show(err);
      pass.input.select();
    } finally {
      submit.disabled = false;
      submit.textContent = 'Sign in';
    }
  });

  main.replaceChildren(h('section', { class: 'login' },
    h('h1', { id: 'login-title', tabindex: '-1', text: 'Sign in to vigia' }),
    ctx.message ? h('p', { class: 'note', role: 'status', text: ctx.message }) : null,
    msg.el,
    form,
    h('p', { class: 'muted' },
      'Accounts are made by an admin here or with ', h('code', { text: 'vigia user add' }),
      '; a new server prints a one-time admin password when it first starts.')));
  user.input.focus();
  return null;
}

/**
 * The signed-in user still has the one-time password the server printed at
 * its first start: the server answers nothing else until it is replaced,
 * and the change ends the session, so this signs in again with the new
 * password before ctx.done().
 */
export function renderNewPassword(main, ctx) {
  const me = currentUser();
  const msg = messageArea();
  const form = passwordForm(me, msg, async (password) => {
    await login(me.name, password);
    ctx.done();
  }, 'One-time password', 'Set the password');
  main.replaceChildren(h('section', { class: 'login' },
    h('h1', { id: 'new-password-title', tabindex: '-1', text: 'Choose your password' }),
    h('p', { class: 'note', role: 'status', text: `${me.name} still has the one-time password the server printed. Choose your own before anything else.` }),
    msg.el,
    h('div', { class: 'panel' }, form)));
  form.querySelector('input[name=current_password]').focus();
  return null;
}
