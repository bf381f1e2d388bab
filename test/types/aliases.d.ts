// Express 4 and Koa 2 are installed beside Express 5 and Koa 3 as npm aliases for the adapter matrix.
declare module 'express4' {
  import express from 'express';
  export default express;
}
declare module 'koa2' {
  import Koa from 'koa';
  export default Koa;
}
