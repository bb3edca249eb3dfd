// Carries ?next= into the form so login returns to the page asked for (the server checks it is local).
const next = new URLSearchParams(location.search).get('next');
const field = document.getElementById('next');
if (next && field) field.value = next;
